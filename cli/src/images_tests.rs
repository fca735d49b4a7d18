use super::*;

const LDD: &str = "\tlinux-vdso.so.1 (0x00007fdb0fa5e000)
\tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007fdb0fa2d000)
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007fdb0c41e000)
\t/lib64/ld-linux-x86-64.so.2 (0x00007fdb0fa60000)
";

#[test]
fn ldd_output_names_the_libraries_and_the_loader_but_not_the_vdso() {
    let files = parse_ldd(LDD).unwrap();
    assert_eq!(
        files,
        [
            "/lib/x86_64-linux-gnu/libgcc_s.so.1",
            "/lib/x86_64-linux-gnu/libc.so.6",
            "/lib64/ld-linux-x86-64.so.2"
        ]
        .map(PathBuf::from)
    );
}

#[test]
fn a_library_ldd_cannot_find_is_an_error() {
    let err = parse_ldd("\tlibfoo.so.1 => not found\n").unwrap_err();
    assert!(err.to_string().contains("libfoo.so.1"), "{err}");
}

#[test]
fn the_context_holds_the_binary_and_its_libraries_as_regular_files() {
    if !Path::new(DEBIAN_ETCD).exists() {
        println!("SKIP: {DEBIAN_ETCD} missing (scripts/prereqs.sh installs etcd-server)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let spec = ImageSpec {
        name: "etcd",
        binary: PathBuf::from(DEBIAN_ETCD),
        user: Some(RUN_AS),
    };
    write_context(&spec, dir.path()).unwrap();
    let rootfs = dir.path().join("rootfs");
    assert!(rootfs.join("usr/local/bin/etcd").is_file());
    for lib in shared_libraries(&spec.binary).unwrap() {
        let copied = rootfs.join(lib.strip_prefix("/").unwrap());
        let meta = std::fs::symlink_metadata(&copied).unwrap();
        assert!(meta.is_file(), "{} is not a regular file", copied.display());
    }
    let dockerfile = std::fs::read_to_string(dir.path().join("Dockerfile")).unwrap();
    assert!(dockerfile.contains("ENTRYPOINT [\"/usr/local/bin/etcd\"]"));
    assert!(dockerfile.contains("USER 65532:65532"), "{dockerfile}");
    assert!(
        dockerfile.contains("COPY --chown=65532:65532 owned/var/lib/etcd /var/lib/etcd"),
        "{dockerfile}"
    );
    let mode = |p: &str| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(dir.path().join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(mode("owned/var/lib/etcd"), 0o700);
    assert_eq!(mode("rootfs/tmp"), 0o1777);
}

#[test]
fn components_run_unprivileged_and_only_the_certs_image_as_root() {
    for spec in image_specs(Path::new("/bin"), Path::new(DEBIAN_ETCD)) {
        let want = (spec.name != "flotilla").then_some(RUN_AS);
        assert_eq!(spec.user, want, "{}", spec.name);
        let dockerfile = dockerfile(&spec, Path::new("/usr/local/bin/x"));
        assert_eq!(dockerfile.contains("USER "), want.is_some(), "{dockerfile}");
    }
}

#[test]
fn a_static_binary_needs_no_libraries() {
    if !Path::new("/bin/busybox").exists() {
        println!("SKIP: /bin/busybox missing (scripts/prereqs.sh installs busybox-static)");
        return;
    }
    assert!(shared_libraries(Path::new("/bin/busybox"))
        .unwrap()
        .is_empty());
}

#[test]
fn a_missing_binary_says_how_to_build_it() {
    let dir = tempfile::tempdir().unwrap();
    let spec = &image_specs(dir.path(), Path::new(DEBIAN_ETCD))[0];
    assert_eq!(spec.reference("dev"), "flotilla/api-server:dev");
    let err = write_context(spec, &dir.path().join("ctx")).unwrap_err();
    assert!(err.to_string().contains("cargo build"), "{err}");
}
