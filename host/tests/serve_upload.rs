//! `PUT /plugins/{name}/package`: uploads of a `.wasm` or a `.tar.gz`, and the hostile
//! archives a server must refuse, against the real `plinth serve`.

mod serve_support;

use reqwest::StatusCode;
use serve_support::*;

/// A .tar.gz of `entries` (path, bytes, type), the paths written raw into the headers so
/// hostile ones (`..`, absolute) can be made.
fn targz(entries: &[(&str, &[u8], tar::EntryType)]) -> Vec<u8> {
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    for (path, data, kind) in entries {
        let mut h = tar::Header::new_gnu();
        h.as_gnu_mut().unwrap().name[..path.len()].copy_from_slice(path.as_bytes());
        h.set_size(if *kind == tar::EntryType::Regular { data.len() as u64 } else { 0 });
        h.set_entry_type(*kind);
        h.set_mode(0o644);
        if *kind == tar::EntryType::Symlink {
            h.set_link_name("../../../../etc/passwd").unwrap();
        }
        h.set_cksum();
        let data: &[u8] = if *kind == tar::EntryType::Regular { data } else { &[] };
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap()
}

#[test]
fn packages_upload_as_wasm_or_tar_gz_and_hostile_archives_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let (admin, acme, _) = tokens(&home);
    let s = Server::start(&home, &["--max-upload", "2M", "--max-expanded", "8M"]);
    let c = h1();
    let auth = format!("Bearer {admin}");
    // A fresh connection per upload: a refused upload's connection is closed by the server
    // before its body is read, and a pooled one could be reused in that moment.
    let put = |name: &str, ctype: &str, bytes: Vec<u8>, sha: Option<&str>| {
        let mut r =
            h1().put(s.url(&format!("/plugins/{name}/package"))).header("authorization", &auth).header("content-type", ctype).body(bytes);
        if let Some(sha) = sha {
            r = r.header("x-plinth-sha256", sha);
        }
        body(r.send().unwrap())
    };
    let wasm = std::fs::read(guest("text_classifier")).unwrap();
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&wasm))
    };
    // A bare .wasm, with its checksum: installed, then served.
    let (st, v) = put("classifier", "application/wasm", wasm.clone(), Some(&sha));
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(v["sha256"], sha.as_str());
    let r = c.post(s.url("/classifier.classify")).header("authorization", &auth).body(envelope(SPAM)).send().unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // The same name again is an update.
    let (st, v) = put("classifier", "application/wasm", wasm.clone(), None);
    assert_eq!(st, StatusCode::OK, "{v}");
    // A plugin directory as a .tar.gz, inside one top directory as `tar czf` makes it (a
    // node plugin: a second classifier would conflict with the first, 409).
    let node_wasm = std::fs::read(guest("json_transform")).unwrap();
    let manifest = b"name = \"tc\"\nversion = \"0.3.0\"\nentry = \"p.wasm\"\napi = \"0.1.0\"\n";
    let archive = targz(&[
        ("tc/", b"", tar::EntryType::Directory),
        ("tc/plinth.toml", manifest, tar::EntryType::Regular),
        ("tc/p.wasm", &node_wasm, tar::EntryType::Regular),
    ]);
    let (st, v) = put("tc", "application/gzip", archive, None);
    assert_eq!((st, v["version"].as_str()), (StatusCode::CREATED, Some("0.3.0")), "{v}");
    // As `tar czf x.tgz -C dir .` writes it: a `./` entry first, then `./plinth.toml`, …
    let manifest2 = b"name = \"tc\"\nversion = \"0.3.1\"\nentry = \"p.wasm\"\napi = \"0.1.0\"\n";
    let dotted = targz(&[
        ("./", b"", tar::EntryType::Directory),
        ("./plinth.toml", manifest2, tar::EntryType::Regular),
        ("./p.wasm", &node_wasm, tar::EntryType::Regular),
    ]);
    let (st, v) = put("tc", "application/gzip", dotted, None);
    assert_eq!((st, v["version"].as_str()), (StatusCode::OK, Some("0.3.1")), "{v}");

    let ok_manifest = ("plinth.toml", &manifest[..], tar::EntryType::Regular);
    let zeros = vec![0u8; 16 << 20];
    let hostile: Vec<(&str, Vec<u8>, StatusCode)> = vec![
        ("climbs out", targz(&[ok_manifest, ("../evil.txt", b"x", tar::EntryType::Regular)]), StatusCode::UNPROCESSABLE_ENTITY),
        ("absolute", targz(&[ok_manifest, ("/tmp/evil.txt", b"x", tar::EntryType::Regular)]), StatusCode::UNPROCESSABLE_ENTITY),
        ("a symlink", targz(&[ok_manifest, ("p.wasm", b"", tar::EntryType::Symlink)]), StatusCode::UNPROCESSABLE_ENTITY),
        ("a hard link", targz(&[ok_manifest, ("p.wasm", b"", tar::EntryType::Link)]), StatusCode::UNPROCESSABLE_ENTITY),
        (
            "a bomb (16 MB of zeros, cap 8 MB)",
            targz(&[ok_manifest, ("p.wasm", &zeros, tar::EntryType::Regular)]),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        ("not gzip", b"plain text".to_vec(), StatusCode::UNPROCESSABLE_ENTITY),
        ("no manifest", targz(&[("p.wasm", &wasm, tar::EntryType::Regular)]), StatusCode::UNPROCESSABLE_ENTITY),
    ];
    for (what, bytes, want) in hostile {
        let (st, v) = put("tc", "application/gzip", bytes, None);
        assert_eq!(st, want, "{what}: {v}");
    }
    // Nothing of the hostile archives was written, anywhere under the home or beside it.
    let mut stack = vec![tmp.path().to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            assert_ne!(e.file_name(), "evil.txt", "{}", e.path().display());
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            }
        }
    }
    assert!(!std::path::Path::new("/tmp/evil.txt").exists());
    let (st, v) = put("tc", "application/wasm", wasm.clone(), Some(&"0".repeat(64)));
    assert_eq!((st, v["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("checksum_mismatch")), "{v}");
    let (st, _) = put("tc", "application/wasm", vec![0u8; 3 << 20], None);
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE);
    let (st, _) = put("tc", "text/plain", wasm.clone(), None);
    assert_eq!(st, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (st, _) = put("bad..name", "application/wasm", wasm.clone(), None);
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let r = h1()
        .put(s.url("/plugins/tc/package"))
        .header("authorization", format!("Bearer {acme}"))
        .header("content-type", "application/wasm")
        .body(wasm)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // The hostile uploads changed nothing: tc is still 0.3.1.
    let (_, v) = body(h1().get(s.url("/plugins/tc")).header("authorization", &auth).send().unwrap());
    assert_eq!(v["version"], "0.3.1", "{v}");
}

/// Files under `dir` whose name starts with `prefix`, at any depth.
fn find(dir: &std::path::Path, prefix: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return found };
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().starts_with(prefix) {
            found.push(e.path());
        }
        if e.path().is_dir() {
            found.extend(find(&e.path(), prefix));
        }
    }
    found
}

#[cfg_attr(not(feature = "fault-injection"), ignore = "needs --features fault-injection (cargo xtask test turns it on)")]
#[test]
fn a_server_killed_in_the_middle_of_an_upload_serves_nothing_half_written_after_restart() {
    use std::io::Write;
    let wasm = std::fs::read(guest("text_classifier")).unwrap();
    // Cut off while the body arrives, once it is unpacked but not renamed into place, and
    // at two points of the install transaction.
    for point in ["mid-body", "upload-unpacked", "after-store", "after-desired"] {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        let env: &[(&str, &str)] = if point == "mid-body" { &[] } else { &[("PLINTH_FAULT", point), ("PLINTH_FAULT_KILL", "1")] };
        let mut s = Server::start_with_env(&home, &["--no-auth"], env);
        if point == "mid-body" {
            // Half the body, then kill -9 while the server waits for the rest.
            let mut tcp = std::net::TcpStream::connect(s.addr()).unwrap();
            let head = format!(
                "PUT /plugins/classifier/package HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/wasm\r\ncontent-length: {}\r\n\r\n",
                wasm.len()
            );
            tcp.write_all(head.as_bytes()).unwrap();
            tcp.write_all(&wasm[..wasm.len() / 2]).unwrap();
            tcp.flush().unwrap();
            // A request on a second connection answered: the server is up and has
            // accepted the first; kill it with the body half sent.
            assert_eq!(h1().get(s.url("/health")).send().unwrap().status(), StatusCode::OK);
            s.child.kill().unwrap();
        } else {
            let r = h1().put(s.url("/plugins/classifier/package")).header("content-type", "application/wasm").body(wasm.clone()).send();
            assert!(r.is_err() || r.unwrap().status().is_server_error(), "{point}: the upload should have died with the server");
        }
        let status = wait_for("the killed server to exit", 10, || s.child.try_wait().unwrap());
        assert!(!status.success(), "{point}: {status:?}");

        if point == "upload-unpacked" {
            assert!(!find(&home.join("uploads"), ".upload-").is_empty(), "the crash should have left an unpack behind");
        }
        // Restarted: nothing half-written is served, cut-off unpacks are swept away, and
        // doctor passes or names the fix, which works.
        let s2 = Server::start(&home, &["--no-auth"]);
        let r = h1().post(s2.url("/classifier.classify")).body(envelope(SPAM)).send().unwrap();
        assert_ne!(r.status(), StatusCode::OK, "{point}: a half-installed plugin was served");
        let leftovers = find(&home.join("uploads"), ".upload-");
        assert!(leftovers.is_empty(), "{point}: {leftovers:?}");
        drop(s2);
        let doctor = plinth(&home, &["plugin", "doctor"]);
        if !doctor.status.success() {
            let repaired = plinth(&home, &["plugin", "doctor", "--repair"]);
            assert!(repaired.status.success(), "{point}: {}", String::from_utf8_lossy(&repaired.stdout));
        }
        // And the same upload, sent again, installs and serves.
        let s3 = Server::start(&home, &["--no-auth"]);
        let (st, v) = body(
            h1().put(s3.url("/plugins/classifier/package")).header("content-type", "application/wasm").body(wasm.clone()).send().unwrap(),
        );
        assert!(st == StatusCode::CREATED || st == StatusCode::OK, "{point}: {st} {v}");
        let r = h1().post(s3.url("/classifier.classify")).body(envelope(SPAM)).send().unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{point}");
    }
}
