//! A small fork-join pool for the products: a job is split into one part
//! per thread, and the calling thread and a few workers take parts.
//!
//! Decoding one token runs a few hundred products of ~50 µs each; waking a
//! sleeping thread through the OS for every one of them (what a general pool
//! does after it goes idle) costs about as much as the product. Here workers
//! spin for a short while after each job, so back-to-back products find them
//! awake, and only park when the model is idle.
//!
//! Parts are claimed, not assigned: whichever thread is running takes the next
//! one. When another program holds a core and a worker is descheduled, the
//! caller runs that worker's parts itself instead of waiting a time slice for
//! it, and waits only for parts a worker already started. One job runs at a
//! time; a caller that finds the pool busy (another model on another thread)
//! runs its job alone instead of waiting.

use std::cell::UnsafeCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::Thread;

/// Spins before a worker parks (about 50–100 µs).
const SPINS: u32 = 20_000;

type Task<'a> = dyn Fn(usize) + Sync + 'a;

struct Shared {
    /// Bumped once per job; workers wait for it to change.
    generation: AtomicUsize,
    /// The generation whose parts are all taken: a worker arriving after the
    /// caller set this must not touch the job.
    closed: AtomicUsize,
    /// Workers inside the current job (the caller waits for none).
    active: AtomicUsize,
    /// The next part to take.
    next: AtomicUsize,
    /// The current job and its number of parts, valid while its generation is
    /// not closed or a worker is active in it.
    job: UnsafeCell<Option<(*const Task<'static>, usize)>>,
    parked: Vec<AtomicBool>,
    /// A worker's part panicked (the caller re-raises it).
    failed: AtomicBool,
}

// SAFETY: `job` is written only by the thread holding `Pool::busy`, before it
// bumps `generation`, and read by workers only after they registered in
// `active` and saw the generation open (all SeqCst); the caller keeps the task
// alive until it closed the generation and `active` is back to 0.
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
            closed: AtomicUsize::new(0),
            active: AtomicUsize::new(0),
            next: AtomicUsize::new(0),
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

    /// Runs `task(0)` … `task(parts - 1)`, each part once on whichever thread
    /// takes it, and returns when all are done. A panicking part is re-raised
    /// here, after the others finished.
    pub(crate) fn run(&self, task: &Task<'_>) {
        let parts = self.parts();
        let Ok(_guard) = self.busy.try_lock() else {
            (0..parts).for_each(task);
            return;
        };
        let shared = &*self.shared;
        // SAFETY: only the holder of `busy` writes `job`, and no worker reads
        // it before the generation bump below. The lifetime is erased: this
        // function does not return before the generation is closed and no
        // worker is inside it.
        unsafe {
            let task = std::mem::transmute::<&Task<'_>, &Task<'static>>(task);
            *shared.job.get() = Some((task, parts));
        }
        shared.next.store(0, Ordering::SeqCst);
        let generation = shared.generation.fetch_add(1, Ordering::SeqCst) + 1;
        for (thread, parked) in self.threads.iter().zip(&shared.parked) {
            if parked.load(Ordering::SeqCst) {
                thread.unpark();
            }
        }
        // Whatever happens to a part here, wait for the workers: they use `task`.
        let mine = take_parts(shared, task, parts);
        shared.closed.store(generation, Ordering::SeqCst);
        let mut spins = 0u32;
        while shared.active.load(Ordering::SeqCst) != 0 {
            if spins < SPINS {
                std::hint::spin_loop();
                spins += 1;
            } else {
                // A worker was descheduled inside a part: let it run.
                std::thread::yield_now();
            }
        }
        if let Some(panic) = mine {
            std::panic::resume_unwind(panic);
        }
        if shared.failed.swap(false, Ordering::SeqCst) {
            panic!("a hearth-kernels worker panicked");
        }
    }
}

/// Runs parts until none is left; a part that panics does not stop the
/// others. Returns the first panic.
fn take_parts(shared: &Shared, task: &Task<'_>, parts: usize) -> Option<Panic> {
    let mut first = None;
    loop {
        let part = shared.next.fetch_add(1, Ordering::SeqCst);
        if part >= parts {
            return first;
        }
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| task(part))) {
            first.get_or_insert(panic);
        }
    }
}

type Panic = Box<dyn std::any::Any + Send>;

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
        shared.active.fetch_add(1, Ordering::SeqCst);
        // Registered before looking: if the caller has not closed `seen` yet,
        // it will wait for this thread; if it has (or moved on), leave the
        // job alone.
        let open = shared.generation.load(Ordering::SeqCst) == seen
            && shared.closed.load(Ordering::SeqCst) != seen;
        if open {
            // SAFETY: the generation is open and this thread is registered in
            // `active`, so the caller keeps the job alive until it leaves.
            if let Some((task, parts)) = unsafe { *shared.job.get() } {
                // SAFETY: see above.
                let task = unsafe { &*task };
                if take_parts(shared, task, parts).is_some() {
                    shared.failed.store(true, Ordering::SeqCst);
                }
            }
        }
        shared.active.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_part_runs_once_whichever_thread_takes_it() {
        let pool = Pool::new(3);
        for round in 0..5000 {
            let counts: Vec<AtomicUsize> = (0..pool.parts()).map(|_| AtomicUsize::new(0)).collect();
            pool.run(&|part| {
                counts[part].fetch_add(1, Ordering::SeqCst);
                if round % 7 == 0 {
                    // Now and then a part outlasts the workers' spinning.
                    std::thread::sleep(std::time::Duration::from_micros(200));
                }
            });
            let counts: Vec<usize> = counts.iter().map(|c| c.load(Ordering::SeqCst)).collect();
            assert_eq!(counts, vec![1; pool.parts()], "round {round}");
        }
    }

    #[test]
    fn a_panicking_part_is_raised_after_the_others_and_the_pool_goes_on() {
        let pool = Pool::new(1);
        for bad in 0..pool.parts() {
            let done = AtomicUsize::new(0);
            let ran = catch_unwind(AssertUnwindSafe(|| {
                pool.run(&|part| {
                    assert_ne!(part, bad, "part {bad} fails");
                    done.fetch_add(1, Ordering::SeqCst);
                })
            }));
            assert!(ran.is_err());
            assert_eq!(done.load(Ordering::SeqCst), pool.parts() - 1);
        }
        let n = AtomicUsize::new(0);
        pool.run(&|_| {
            n.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(n.load(Ordering::SeqCst), pool.parts());
    }
}
