//! Tuning of the C allocator for a long-running, multi-threaded process. glibc gives every thread that meets
//! contention an arena of its own (up to eight per core), and memory freed in one arena is not reused by the others:
//! the operator's burst of reconciles at start left its resident memory near its peak. Two arenas are enough for a
//! process whose work is mostly waiting on the network (the footprint benchmark: 99 → 85 MiB peak for 1,000
//! deployments, docs/benchmarks.md).

/// The most arenas glibc may create.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const ARENAS: libc::c_int = 2;

/// Limits glibc's malloc arenas, unless `MALLOC_ARENA_MAX` says otherwise. Call it first thing in `main`, before any
/// thread starts. Elsewhere (musl, other systems) it does nothing.
pub fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets a tuning parameter of the allocator; M_ARENA_MAX with a positive value is
        // documented and takes effect for arenas created afterwards.
        let _accepted = unsafe { libc::mallopt(libc::M_ARENA_MAX, ARENAS) };
    }
}
