//! A small fork-join pool for the products: the calling thread and a few
//! workers each take one part of a job.
//!
//! Decoding one token runs a few hundred products of ~50 µs each; waking a
//! sleeping thread through the OS for every one of them (what a general pool
//! does after it goes idle) costs about as much as the product. Here workers
//! spin for a short while after each job, so back-to-back products find them
//! awake, and only park when the model is idle. One job runs at a time; a
//! caller that finds the pool busy (another model on another thread) runs its
//! job alone instead of waiting.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::Thread;

/// Spins before a worker parks (about 50–100 µs).
const SPINS: u32 = 20_000;

type Task<'a> = dyn Fn(usize) + Sync + 'a;

struct Shared {
    /// Bumped once per job; workers wait for it to change.
    generation: AtomicUsize,
    /// Workers still running the current job.
    pending: AtomicUsize,
    /// The current job, valid from the generation bump until `pending` is 0.
    job: UnsafeCell<Option<*const Task<'static>>>,
    parked: Vec<AtomicBool>,
    /// A worker's part panicked (the caller re-raises it).
    failed: AtomicBool,
}

// SAFETY: `job` is written only by the thread holding `Pool::busy` before it
// bumps `generation` (release) and read by workers after they see the bump
// (acquire); the caller keeps the task alive until every worker is done.
unsafe impl Sync for Shared {}
// SAFETY: as above; the raw task pointer is only dereferenced under that protocol.
unsafe impl Send for Shared {}

pub(crate) struct Pool {
    shared: Arc<Shared>,
    threads: Vec<Thread>,
    busy: Mutex<()>,
}

impl Pool {
    /// The process's pool: one worker fewer than rayon's thread count (the
    /// caller is the last one), so `RAYON_NUM_THREADS` sizes both.
    pub(crate) fn global() -> &'static Pool {
        static POOL: OnceLock<Pool> = OnceLock::new();
        POOL.get_or_init(|| Pool::new(rayon::current_num_threads().saturating_sub(1)))
    }

    fn new(workers: usize) -> Pool {
        let shared = Arc::new(Shared {
            generation: AtomicUsize::new(0),
            pending: AtomicUsize::new(0),
            job: UnsafeCell::new(None),
            parked: (0..workers).map(|_| AtomicBool::new(false)).collect(),
            failed: AtomicBool::new(false),
        });
        let mut threads = Vec::with_capacity(workers);
        for index in 0..workers {
            let worker = shared.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("hearth-kernels-{index}"))
                .spawn(move || work(&worker, index));
            match spawned {
                Ok(handle) => threads.push(handle.thread().clone()),
                // Fewer workers (workers 0..index exist): fewer parts.
                Err(_) => break,
            }
        }
        Pool {
            shared,
            threads,
            busy: Mutex::new(()),
        }
    }

    /// How many parts [`Pool::run`] splits a job into.
    pub(crate) fn parts(&self) -> usize {
        self.threads.len() + 1
    }

    /// Runs `task(0)` … `task(parts - 1)`, one part per thread, and returns
    /// when all are done. A panicking part is re-raised here, after the others
    /// finished.
    pub(crate) fn run(&self, task: &Task<'_>) {
        let parts = self.parts();
        let Ok(_guard) = self.busy.try_lock() else {
            (0..parts).for_each(task);
            return;
        };
        let shared = &*self.shared;
        // SAFETY: only the holder of `busy` writes `job`, and no worker reads
        // it until the generation bump below. The lifetime is erased: this
        // function does not return before every worker finished with it.
        unsafe {
            *shared.job.get() = Some(std::mem::transmute::<&Task<'_>, &Task<'static>>(task));
        }
        shared.pending.store(self.threads.len(), Ordering::SeqCst);
        shared.generation.fetch_add(1, Ordering::SeqCst);
        for (thread, parked) in self.threads.iter().zip(&shared.parked) {
            if parked.load(Ordering::SeqCst) {
                thread.unpark();
            }
        }
        // Whatever happens to part 0, wait for the workers: they use `task`.
        let mine = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| task(0)));
        let mut spins = 0u32;
        while shared.pending.load(Ordering::Acquire) != 0 {
            if spins < SPINS {
                std::hint::spin_loop();
                spins += 1;
            } else {
                // A worker was descheduled: let it run.
                std::thread::yield_now();
            }
        }
        if let Err(panic) = mine {
            std::panic::resume_unwind(panic);
        }
        if shared.failed.swap(false, Ordering::SeqCst) {
            panic!("a hearth-kernels worker panicked");
        }
    }
}

fn work(shared: &Shared, index: usize) {
    let mut seen = 0usize;
    loop {
        let mut spins = 0u32;
        loop {
            let generation = shared.generation.load(Ordering::Acquire);
            if generation != seen {
                seen = generation;
                break;
            }
            if spins < SPINS {
                std::hint::spin_loop();
                spins += 1;
                continue;
            }
            shared.parked[index].store(true, Ordering::SeqCst);
            // Re-check after announcing the park, so a job published in
            // between is not missed (the caller reads `parked` after its bump).
            if shared.generation.load(Ordering::SeqCst) == seen {
                std::thread::park();
            }
            shared.parked[index].store(false, Ordering::SeqCst);
            spins = 0;
        }
        // SAFETY: the generation changed, so the caller published a job and
        // keeps it alive until `pending` reaches 0, which this thread's
        // decrement below is part of.
        if let Some(task) = unsafe { *shared.job.get() } {
            // SAFETY: see above.
            let task = unsafe { &*task };
            let part = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| task(index + 1)));
            if part.is_err() {
                shared.failed.store(true, Ordering::SeqCst);
            }
        }
        shared.pending.fetch_sub(1, Ordering::Release);
    }
}
