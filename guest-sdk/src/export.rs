//! The export macros. Each generates its kind's world in the plugin crate (so the component
//! exports exactly the kinds the plugin implements) and adapts the WIT functions to the
//! SDK traits.

/// Exports a [`crate::Tool`] implementation: `plinth_guest::export_tool!(MyTool);`
#[macro_export]
macro_rules! export_tool {
    ($ty:path) => {
        #[doc(hidden)]
        #[allow(unused_imports)]
        mod __plinth_export_tool {
            use super::*;
            ::plinth_guest::__plinth_generate!("plinth:plugin/tool-plugin@0.1.0");
            use ::plinth_guest::bindings::plinth::plugin::types as t;
            use exports::plinth::plugin::tool as w;
            pub struct Adapter;
            impl w::Guest for Adapter {
                fn list_tools() -> ::std::vec::Vec<w::ToolSpec> {
                    <$ty as ::plinth_guest::Tool>::tools()
                        .into_iter()
                        .map(|s| w::ToolSpec {
                            name: s.name,
                            description: s.description,
                            input_schema: s.input_schema.to_string(),
                            output_schema: s.output_schema.map(|v| v.to_string()),
                        })
                        .collect()
                }
                fn call(name: ::std::string::String, ctx: t::CallContext, args: t::Json) -> ::std::result::Result<t::Json, t::PluginError> {
                    let run = || -> ::std::result::Result<t::Json, ::plinth_guest::Error> {
                        let ctx = ::plinth_guest::Context::try_from(ctx)?;
                        let args = ::plinth_guest::Input::new("arguments", &args);
                        let out = <$ty as ::plinth_guest::Tool>::call_typed(&name, &ctx, args)?;
                        Ok(out.into_string())
                    };
                    run().map_err(::std::convert::Into::into)
                }
            }
            export!(Adapter);
        }
    };
}

/// Exports a [`crate::Node`] implementation: `plinth_guest::export_node!(MyNode);`
#[macro_export]
macro_rules! export_node {
    ($ty:path) => {
        #[doc(hidden)]
        #[allow(unused_imports)]
        mod __plinth_export_node {
            use super::*;
            ::plinth_guest::__plinth_generate!("plinth:plugin/node-plugin@0.1.0");
            use ::plinth_guest::bindings::plinth::plugin::types as t;
            use exports::plinth::plugin::node as w;
            pub struct Adapter;
            impl w::Guest for Adapter {
                fn list_nodes() -> ::std::vec::Vec<t::Spec> {
                    <$ty as ::plinth_guest::Node>::nodes().into_iter().map(::std::convert::Into::into).collect()
                }
                fn run(
                    name: ::std::string::String,
                    ctx: t::CallContext,
                    params: t::Json,
                ) -> ::std::result::Result<t::Json, t::PluginError> {
                    let run = || -> ::std::result::Result<t::Json, ::plinth_guest::Error> {
                        let ctx = ::plinth_guest::Context::try_from(ctx)?;
                        let params = ::plinth_guest::Input::new("params", &params);
                        let out = <$ty as ::plinth_guest::Node>::run_typed(&name, &ctx, params)?;
                        Ok(out.into_string())
                    };
                    run().map_err(::std::convert::Into::into)
                }
            }
            export!(Adapter);
        }
    };
}

/// Exports a [`crate::Trigger`] implementation: `plinth_guest::export_trigger!(MyTrigger);`
#[macro_export]
macro_rules! export_trigger {
    ($ty:path) => {
        #[doc(hidden)]
        #[allow(unused_imports)]
        mod __plinth_export_trigger {
            use super::*;
            ::plinth_guest::__plinth_generate!("plinth:plugin/trigger-plugin@0.1.0");
            use ::plinth_guest::bindings::plinth::plugin::types as t;
            use exports::plinth::plugin::trigger as w;
            pub struct Adapter;
            impl w::Guest for Adapter {
                fn list_triggers() -> ::std::vec::Vec<t::Spec> {
                    <$ty as ::plinth_guest::Trigger>::triggers().into_iter().map(::std::convert::Into::into).collect()
                }
                fn poll(
                    name: ::std::string::String,
                    ctx: t::CallContext,
                    cursor: ::std::option::Option<::std::string::String>,
                ) -> ::std::result::Result<w::PollResult, t::PluginError> {
                    let run = || -> ::std::result::Result<w::PollResult, ::plinth_guest::Error> {
                        let ctx = ::plinth_guest::Context::try_from(ctx)?;
                        let p = <$ty as ::plinth_guest::Trigger>::poll(&name, &ctx, cursor)?;
                        Ok(w::PollResult {
                            events: p.events.iter().map(|e| e.to_string()).collect(),
                            cursor: p.cursor,
                            next_poll_ms: p.next_poll_ms,
                        })
                    };
                    run().map_err(::std::convert::Into::into)
                }
            }
            export!(Adapter);
        }
    };
}

/// Exports a [`crate::Listener`] implementation: `plinth_guest::export_listener!(MyListener);`
#[macro_export]
macro_rules! export_listener {
    ($ty:path) => {
        #[doc(hidden)]
        #[allow(unused_imports)]
        mod __plinth_export_listener {
            use super::*;
            ::plinth_guest::__plinth_generate!("plinth:plugin/listener-plugin@0.1.0");
            use ::plinth_guest::bindings::plinth::plugin::types as t;
            use exports::plinth::plugin::listener as w;
            pub struct Adapter;
            impl w::Guest for Adapter {
                fn list_listeners() -> ::std::vec::Vec<w::ListenerSpec> {
                    <$ty as ::plinth_guest::Listener>::listeners()
                        .into_iter()
                        .map(|s| w::ListenerSpec {
                            name: s.name,
                            platform: s.platform,
                            description: s.description,
                            config_schema: s.config_schema.map(|v| v.to_string()),
                        })
                        .collect()
                }
                fn handle(
                    name: ::std::string::String,
                    ctx: t::CallContext,
                    message: w::InboundMessage,
                ) -> ::std::result::Result<w::HandleResult, t::PluginError> {
                    let run = || -> ::std::result::Result<w::HandleResult, ::plinth_guest::Error> {
                        let ctx = ::plinth_guest::Context::try_from(ctx)?;
                        let message = ::plinth_guest::Message {
                            method: message.method,
                            path: message.path,
                            headers: message.headers,
                            body: message.body,
                        };
                        let r = <$ty as ::plinth_guest::Listener>::handle(&name, &ctx, message)?;
                        Ok(w::HandleResult {
                            dispatches: r
                                .dispatches
                                .into_iter()
                                .map(|d| w::Dispatch { event: d.event, payload: d.payload.to_string() })
                                .collect(),
                            reply: r.reply.map(|r| w::Reply { status: r.status, headers: r.headers, body: r.body }),
                        })
                    };
                    run().map_err(::std::convert::Into::into)
                }
            }
            export!(Adapter);
        }
    };
}
