//! An install that stops between its steps (as a crash would) leaves a consistent state:
//! the lock is the old one, and the registry opens as before. Its own test binary because
//! the fault is injected through a process-wide environment variable.

mod common;

use common::{guest, runtime};
use plinth::Grants;
use plinth::registry::state::Home;
use plinth::registry::{Registry, install};

#[test]
#[cfg_attr(not(feature = "fault-injection"), ignore = "needs the crash points of feature `fault-injection`: run `cargo xtask test`")]
fn a_crash_mid_install_never_leaves_a_half_written_lock() {
    let tmp = tempfile::tempdir().unwrap();
    let home = Home::new(tmp.path().join("home"));
    install(runtime(), &home, &guest("json_transform"), None, Grants::default()).unwrap();
    let lock_before = std::fs::read(home.lock_path()).unwrap();
    for point in ["after-store", "after-desired"] {
        // SAFETY (edition 2024 `set_var`): this test binary runs this one test only.
        unsafe { std::env::set_var("PLINTH_FAULT", point) };
        assert!(install(runtime(), &home, &guest("text_classifier"), None, Grants::default()).is_err());
        unsafe { std::env::remove_var("PLINTH_FAULT") };
        assert_eq!(std::fs::read(home.lock_path()).unwrap(), lock_before, "lock changed by a crash {point}");
        let (registry, report) = Registry::open(runtime(), &home).unwrap();
        assert!(report.failed.is_empty(), "{report:?}");
        assert_eq!(registry.list().len(), 1);
        // No temporary files left behind.
        let stray: Vec<_> =
            std::fs::read_dir(home.root()).unwrap().flatten().filter(|e| e.file_name().to_string_lossy().contains(".tmp-")).collect();
        assert!(stray.is_empty(), "{stray:?}");
    }
    // Retrying the install completes it.
    install(runtime(), &home, &guest("text_classifier"), None, Grants::default()).unwrap();
    assert_eq!(Registry::open(runtime(), &home).unwrap().0.list().len(), 2);
}
