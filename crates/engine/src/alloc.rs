//! How the engine asks the C allocator to treat the memory of a forward pass.

/// A forward pass over a prompt allocates and frees tens of MiB of
/// activations. By default glibc hands freed memory at the top of a heap back
/// to the OS and faults it in again on the next pass, a page at a time: that
/// was a fifth of SmolLM2's prompt time. Heaps now grow 64 MiB at a time and
/// keep up to 256 MiB of freed memory for the next pass. Peak resident memory
/// stayed the same in `hearth bench` (only touched pages count); prompt speed
/// rose by about a third on SmolLM2.
pub(crate) fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            #[allow(unsafe_code)]
            // SAFETY: `mallopt` only changes glibc's tuning parameters; it is
            // called once, before the engine's threads allocate.
            let ok = unsafe {
                libc::mallopt(libc::M_TOP_PAD, 64 << 20) == 1
                    && libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20) == 1
                    && libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20) == 1
            };
            if !ok {
                tracing::debug!("glibc refused a malloc tuning parameter");
            }
        });
    }
}
