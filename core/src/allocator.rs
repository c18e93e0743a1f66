//! Handing freed memory back to the operating system, and not too soon (`configure`: freed
//! memory is kept a second for reuse). The binary allocates with mimalloc,
//! which returns a thread's free pages lazily, on that thread's later allocations. Executors
//! and the evaluation pool go quiet after a dashboard's heavy query and would otherwise keep
//! its memory until they allocate again (measured: 1.4 GB kept after one 24 h histogram
//! panel over 66k series).

// Links mimalloc's C library into every binary of this crate (its unit tests call the
// functions below, and they use no Rust item of the crate).
extern crate mimalloc as _;

extern "C" {
    /// mimalloc's collection entry point (part of its stable C API; linked through the
    /// `mimalloc` crate whether or not it is the global allocator).
    fn mi_collect(force: bool);
    /// Sets one of mimalloc's options (stable C API).
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
    #[cfg(test)]
    fn mi_option_get(option: std::ffi::c_int) -> std::ffi::c_long;
}

/// `mi_option_purge_delay` in mimalloc's `mi_option_t` (the same in its v2 and v3 headers).
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

/// How long freed memory stays with mimalloc for reuse before it goes back to the OS.
/// mimalloc's default, 10 ms, is shorter than the gap between two remote_write requests:
/// every request's batch buffers were then fresh pages that the kernel zeroed (profiled at
/// 100k series: 8-10% of the server's CPU in `clear_page_erms`). Idle executors still give
/// everything back (`release_thread_free_memory`).
const PURGE_DELAY_MS: std::ffi::c_long = 1_000;

/// Applies Metricstor's mimalloc settings; call once at startup, before serving. An
/// operator's `MIMALLOC_PURGE_DELAY` environment variable wins.
pub fn configure() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: `mi_option_set` takes plain integers and may be called at any time.
        unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) }
    }
}

/// Frees this thread's unused mimalloc pages back to the OS and takes in the blocks other
/// threads freed for it. Costs a walk over the thread's heap: call it after big work or
/// when idle, not per request.
pub fn release_thread_free_memory() {
    // SAFETY: `mi_collect` takes no pointers and may be called from any thread at any time.
    unsafe { mi_collect(true) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_purge_delay_is_set_unless_the_environment_sets_it() {
        configure();
        // SAFETY: `mi_option_get` takes a plain integer.
        let delay = unsafe { mi_option_get(MI_OPTION_PURGE_DELAY) };
        match std::env::var("MIMALLOC_PURGE_DELAY") {
            Ok(value) => assert_eq!(Some(delay), value.parse().ok()),
            Err(_) => assert_eq!(delay, PURGE_DELAY_MS),
        }
    }
}
