//! Start-up probe for io_uring: glommio panics with a misleading "kernel too old" message
//! when io_uring is blocked (DESIGN §9), so we try `io_uring_setup` ourselves first.

/// README section that explains how to allow io_uring in containers.
pub const CONTAINER_HELP: &str = "see README.md, section \"Running in containers\"";

/// Returns `Err(message)` when this process cannot create an io_uring instance.
pub fn check_io_uring() -> Result<(), String> {
    // struct io_uring_params is 120 bytes; zeroed means "defaults".
    let mut params = [0u8; 120];
    // SAFETY: io_uring_setup(entries, params*) only writes into `params`, which is large enough.
    let fd = unsafe { libc::syscall(libc::SYS_io_uring_setup, 4u32, params.as_mut_ptr()) };
    if fd >= 0 {
        // SAFETY: `fd` is a descriptor we own and close exactly once.
        unsafe { libc::close(fd as i32) };
        return Ok(());
    }
    let err = std::io::Error::last_os_error();
    let why = match err.raw_os_error() {
        Some(libc::ENOSYS) => "the kernel does not support io_uring (Linux 5.8 or newer is required)".to_string(),
        Some(libc::EPERM) | Some(libc::EACCES) => {
            "io_uring is blocked (kernel.io_uring_disabled sysctl, or a seccomp profile such as Docker's/containerd's default that blocks io_uring_setup, io_uring_enter and io_uring_register)".to_string()
        }
        _ => format!("io_uring_setup failed: {err}"),
    };
    Err(format!("metricstor needs io_uring: {why}; {CONTAINER_HELP}"))
}
