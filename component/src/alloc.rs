//! jemalloc settings every binary applies at start (each binary installs jemalloc as its global
//! allocator behind its `jemalloc` feature).
//!
//! jemalloc keeps freed pages for 10 s by default before returning them to the kernel. The
//! components free in bursts (decoded list pages, watch lines, a reconcile's writes), and what
//! jemalloc kept was a large share of each process's peak RSS at 1,000 nodes. Returning them at
//! once costs CPU instead: a `madvise` per freed run, and a page fault to use the page again.
//! Each binary picks its side (docs/benchmark.md, "Where the memory is" and "Freed pages").

/// How long freed pages stay mapped in the control plane's binaries, whose peak RSS has a goal:
/// not at all (even 100 ms raised their peak together by a tenth at 1,000 nodes).
pub const CONTROL_PLANE_DECAY_MS: isize = 0;

/// How long freed pages stay mapped in a node agent, which frees as much per status write and
/// has no such goal.
pub const AGENT_DECAY_MS: isize = 1_000;

/// Overrides a binary's decay (milliseconds; -1 keeps pages for good): memory for CPU.
pub const DECAY_ENV: &str = "FLOTILLA_JEMALLOC_DECAY_MS";

/// The decay a binary uses: `env`'s value when it is a number, else `default`.
pub fn decay_from(env: Option<&str>, default: isize) -> isize {
    env.and_then(|v| v.trim().parse().ok()).unwrap_or(default)
}

/// Sets the decay of dirty and muzzy pages: the default for arenas made later (one per thread
/// that allocates, on first use) and each arena that exists already (the main thread's).
pub fn set_decay(ms: isize) -> tikv_jemalloc_ctl::Result<()> {
    use tikv_jemalloc_ctl::{Access, AsName};
    for kind in ["dirty", "muzzy"] {
        format!("arenas.{kind}_decay_ms\0").name().write(ms)?;
        for arena in 0..tikv_jemalloc_ctl::arenas::narenas::read()? {
            // An arena not made yet refuses the write; it gets the default above when made.
            let _ = format!("arena.{arena}.{kind}_decay_ms\0").name().write(ms);
        }
    }
    Ok(())
}

/// [`set_decay`] to `default` or to what [`DECAY_ENV`] says, logging (not failing) when
/// jemalloc refuses.
pub fn tune(default: isize) {
    let ms = decay_from(std::env::var(DECAY_ENV).ok().as_deref(), default);
    if let Err(e) = set_decay(ms) {
        tracing::warn!(error = %e, "could not set jemalloc's decay; freed pages stay for 10 s");
    }
}

#[cfg(test)]
mod tests {
    use tikv_jemalloc_ctl::{Access, AsName};

    // The binaries' allocator, so that threads here get jemalloc arenas as theirs do.
    #[global_allocator]
    static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

    fn read(name: &str) -> isize {
        format!("{name}\0")
            .name()
            .read()
            .expect("a jemalloc setting")
    }

    #[test]
    fn the_decay_reaches_existing_and_later_arenas() {
        let ms = super::AGENT_DECAY_MS;
        super::set_decay(ms).unwrap();
        for name in ["arenas.dirty_decay_ms", "arenas.muzzy_decay_ms"] {
            assert_eq!(read(name), ms, "{name}");
        }
        assert_eq!(read("arena.0.dirty_decay_ms"), ms);
        // A thread's first allocation may make a new arena: it starts from the default.
        let later = std::thread::spawn(|| {
            let _ = vec![0u8; 1 << 20];
            let arena: u32 = "thread.arena\0".name().read().unwrap();
            read(&format!("arena.{arena}.dirty_decay_ms"))
        });
        assert_eq!(later.join().unwrap(), ms);
    }

    #[test]
    fn an_operator_may_choose_another_decay() {
        assert_eq!(super::decay_from(None, 0), 0);
        assert_eq!(super::decay_from(Some("250"), 0), 250);
        assert_eq!(super::decay_from(Some(" -1 "), 0), -1);
        assert_eq!(
            super::decay_from(Some("soon"), 1_000),
            1_000,
            "not a number"
        );
    }
}
