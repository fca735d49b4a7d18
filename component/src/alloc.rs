//! jemalloc settings every binary applies at start (each binary installs jemalloc as its global
//! allocator behind its `jemalloc` feature).
//!
//! jemalloc keeps freed pages for 10 s by default before returning them to the kernel. The
//! components free in bursts (decoded list pages, watch lines, a reconcile's writes), and what
//! jemalloc kept was a large share of each process's peak RSS at 1,000 nodes
//! (docs/benchmark.md, "Where the memory is").

/// How long freed pages stay mapped: not at all.
pub const DECAY_MS: isize = 0;

/// Sets [`DECAY_MS`] for dirty and muzzy pages: the default for arenas made later (one per
/// thread that allocates, on first use) and each arena that exists already (the main thread's).
pub fn return_freed_pages() -> tikv_jemalloc_ctl::Result<()> {
    use tikv_jemalloc_ctl::{Access, AsName};
    for kind in ["dirty", "muzzy"] {
        format!("arenas.{kind}_decay_ms\0").name().write(DECAY_MS)?;
        for arena in 0..tikv_jemalloc_ctl::arenas::narenas::read()? {
            // An arena not made yet refuses the write; it gets the default above when made.
            let _ = format!("arena.{arena}.{kind}_decay_ms\0")
                .name()
                .write(DECAY_MS);
        }
    }
    Ok(())
}

/// [`return_freed_pages`], logging (not failing) when jemalloc refuses.
pub fn tune() {
    if let Err(e) = return_freed_pages() {
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
    fn freed_pages_go_back_at_once_in_existing_and_later_arenas() {
        super::return_freed_pages().unwrap();
        for name in ["arenas.dirty_decay_ms", "arenas.muzzy_decay_ms"] {
            assert_eq!(read(name), super::DECAY_MS, "{name}");
        }
        assert_eq!(read("arena.0.dirty_decay_ms"), super::DECAY_MS);
        // A thread's first allocation may make a new arena: it starts from the default.
        let later = std::thread::spawn(|| {
            let _ = vec![0u8; 1 << 20];
            let arena: u32 = "thread.arena\0".name().read().unwrap();
            read(&format!("arena.{arena}.dirty_decay_ms"))
        });
        assert_eq!(later.join().unwrap(), super::DECAY_MS);
    }
}
