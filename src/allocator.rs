//! The global allocator: glibc's `malloc`, with a small per-thread shelf in front of
//! it for the blocks the request path allocates and frees once per request:
//!
//! - blocks of up to 16 KiB, shelved by size class (the next power of two from 16
//!   bytes): header values, paths, small vectors, response heads, read buffers. A
//!   worker serving 50 connections frees them in bursts of dozens per class, more than
//!   glibc's per-thread cache keeps (7 per size), so glibc sent most of them through
//!   its fast bins and consolidated those on the next large free: about a tenth of
//!   a proxy worker's CPU under `perf` (docs/performance.md). A buffer that grows
//!   within its class is not moved.
//! - blocks aligned beyond 16 bytes: the request future (monoio's timer entries are
//!   cache-padded, so any future that holds a timeout is 128-byte aligned), which
//!   `posix_memalign` over-allocates and splits. These are shelved by exact layout.
//!
//! From the shelf a block costs a few loads and stores. Each class keeps at most
//! [`DEPTH`] blocks and [`ROW_BYTES`] bytes per thread, so the shelf holds at most
//! about three megabytes, about what glibc would keep of the same blocks anyway (its
//! trim threshold is raised, `sys.rs`); everything else goes straight to glibc.
//! The depth covers the requests a worker has in flight at once under load.
//!
//! Under valgrind's memcheck the shelf would hide what memcheck looks for: to memcheck
//! a shelved block is still a live `malloc` block, readable and initialised. In debug
//! builds on x86-64 the allocator therefore tells memcheck (client requests, [`memcheck`])
//! that a shelved block is inaccessible, that a block taken from the shelf holds
//! undefined bytes, and that the bytes of a class block past the size asked for are
//! inaccessible; so use after free, reads of uninitialised memory and overruns within
//! a class are reported as they would be for `malloc`'s own blocks
//! (`tests/tools/valgrind.sh`, docs/hardening.md). Outside valgrind a client request is
//! a few instructions that do nothing; release builds have none.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::ptr;

/// Alignment glibc's `malloc` gives anyway; above it a block is shelved by layout.
const MALLOC_ALIGN: usize = 16;
/// The smallest class: glibc's smallest block holds 24 bytes.
const MIN_CLASS_SHIFT: u32 = 4;
/// The largest class, 16 KiB; larger blocks are not shelved.
const MAX_CLASS_SHIFT: u32 = 14;
const MAX_SIZE: usize = 1 << MAX_CLASS_SHIFT;
/// Size classes: 16 B, 32 B, ... 16 KiB.
const CLASSES: usize = (MAX_CLASS_SHIFT - MIN_CLASS_SHIFT + 1) as usize;
/// Distinct over-aligned layouts a thread shelves.
const ALIGNED_ROWS: usize = 4;
/// Blocks kept per class or layout, at most.
const DEPTH: usize = 256;
/// Bytes kept per class or layout, at most (so the 16 KiB class holds 16 blocks).
const ROW_BYTES: usize = 256 * 1024;

/// Memcheck's client requests (valgrind's `memcheck.h`): the magic instruction
/// sequence valgrind recognises and a real CPU executes as a no-op (four rotations of
/// `rdi` by 128 bits in all, and `xchg rbx, rbx`). Only in debug builds on x86-64.
mod memcheck {
    /// `VG_USERREQ__MAKE_MEM_NOACCESS`: `VG_USERREQ_TOOL_BASE('M', 'C')`.
    #[cfg(all(debug_assertions, target_arch = "x86_64"))]
    const MAKE_MEM_NOACCESS: u64 = 0x4d43_0000;
    /// `VG_USERREQ__MAKE_MEM_UNDEFINED`, the next request.
    #[cfg(all(debug_assertions, target_arch = "x86_64"))]
    const MAKE_MEM_UNDEFINED: u64 = 0x4d43_0001;

    #[cfg(all(debug_assertions, target_arch = "x86_64"))]
    #[inline(always)]
    fn request(code: u64, block: *mut u8, len: usize) {
        let args: [u64; 6] = [code, block as u64, len as u64, 0, 0, 0];
        // SAFETY: the instructions change no register (the rotations add up to 128
        // bits, `xchg rbx, rbx` swaps a register with itself; `rdx` is declared) and
        // only read `args`, which outlives the statement. Under valgrind the sequence
        // asks memcheck to change its own bookkeeping of `len` bytes at `block`.
        unsafe {
            std::arch::asm!(
                "rol rdi, 3",
                "rol rdi, 13",
                "rol rdi, 61",
                "rol rdi, 51",
                "xchg rbx, rbx",
                in("rax") args.as_ptr(),
                inout("rdx") 0u64 => _,
                options(nostack, readonly),
            );
        }
    }

    /// The `len` bytes at `block` may not be touched (a shelved block, a class
    /// block's tail).
    #[inline(always)]
    pub fn no_access(block: *mut u8, len: usize) {
        #[cfg(all(debug_assertions, target_arch = "x86_64"))]
        if len > 0 {
            request(MAKE_MEM_NOACCESS, block, len);
        }
        #[cfg(not(all(debug_assertions, target_arch = "x86_64")))]
        let _ = (block, len);
    }

    /// The `len` bytes at `block` may be used and hold nothing defined (a block
    /// handed out again).
    #[inline(always)]
    pub fn undefined(block: *mut u8, len: usize) {
        #[cfg(all(debug_assertions, target_arch = "x86_64"))]
        if len > 0 {
            request(MAKE_MEM_UNDEFINED, block, len);
        }
        #[cfg(not(all(debug_assertions, target_arch = "x86_64")))]
        let _ = (block, len);
    }
}

/// glibc's allocator with a per-thread shelf of small and over-aligned blocks.
#[derive(Debug)]
pub struct Allocator;

/// Freed blocks of one layout, last in first out.
struct Row {
    blocks: [*mut u8; DEPTH],
    count: usize,
}

impl Row {
    const fn new() -> Row {
        Row {
            blocks: [ptr::null_mut(); DEPTH],
            count: 0,
        }
    }

    fn pop(&mut self) -> Option<*mut u8> {
        self.count = self.count.checked_sub(1)?;
        self.blocks.get(self.count).copied()
    }

    /// Keeps `block` of `size` bytes; `false` when the row is full.
    fn push(&mut self, block: *mut u8, size: usize) -> bool {
        if (self.count + 1) * size > ROW_BYTES {
            return false;
        }
        match self.blocks.get_mut(self.count) {
            Some(slot) => {
                *slot = block;
                self.count += 1;
                true
            }
            None => false,
        }
    }
}

/// Whether a thread's shelf may keep blocks: only once the guard that empties it at
/// thread exit is registered, and no more once it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ShelfState {
    /// The thread has not allocated yet; blocks freed are given back to glibc.
    Unguarded,
    /// [`GUARD`] is registered: blocks are kept.
    Guarded,
    /// The thread is exiting and [`GUARD`] has emptied the shelf; blocks freed from
    /// here on go straight to glibc.
    Closed,
}

struct Shelf {
    state: ShelfState,
    classes: [Row; CLASSES],
    /// (size, align) of each aligned row; size 0 is an unused row.
    aligned_layouts: [(usize, usize); ALIGNED_ROWS],
    aligned: [Row; ALIGNED_ROWS],
}

/// Where a block is shelved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// A size class (index) and the layout its blocks have in glibc.
    Class(usize, Layout),
    /// An over-aligned block, shelved under its own layout.
    Aligned(Layout),
}

impl Place {
    /// The layout the block has in glibc.
    fn layout(self) -> Layout {
        match self {
            Place::Class(_, layout) | Place::Aligned(layout) => layout,
        }
    }
}

impl Shelf {
    const fn new() -> Shelf {
        Shelf {
            state: ShelfState::Unguarded,
            classes: [const { Row::new() }; CLASSES],
            aligned_layouts: [(0, 0); ALIGNED_ROWS],
            aligned: [const { Row::new() }; ALIGNED_ROWS],
        }
    }

    fn aligned_row(&self, layout: Layout) -> Option<usize> {
        let key = (layout.size(), layout.align());
        self.aligned_layouts.iter().position(|l| *l == key)
    }

    fn row_mut(&mut self, place: Place, claim: bool) -> Option<&mut Row> {
        match place {
            Place::Class(class, _) => self.classes.get_mut(class),
            Place::Aligned(layout) => {
                let row = match self.aligned_row(layout) {
                    Some(row) => row,
                    None if claim => {
                        let free = self.aligned_layouts.iter().position(|l| l.0 == 0)?;
                        self.aligned_layouts[free] = (layout.size(), layout.align());
                        free
                    }
                    None => return None,
                };
                self.aligned.get_mut(row)
            }
        }
    }

    fn take(&mut self, place: Place) -> Option<*mut u8> {
        self.row_mut(place, false)?.pop()
    }

    /// Keeps `block`; `false` when its row is full, no row is free for its layout, or
    /// the shelf is not [`ShelfState::Guarded`].
    fn put(&mut self, block: *mut u8, place: Place) -> bool {
        if self.state != ShelfState::Guarded {
            return false;
        }
        let size = place.layout().size();
        self.row_mut(place, true)
            .is_some_and(|row| row.push(block, size))
    }

    /// Keeps `block` of size class `class`; `false` as for [`Shelf::put`].
    #[inline]
    fn put_class(&mut self, block: *mut u8, class: usize) -> bool {
        self.state == ShelfState::Guarded
            && self
                .classes
                .get_mut(class)
                .is_some_and(|row| row.push(block, class_size(class)))
    }

    /// Gives every kept block back to glibc and keeps none from here on: the thread
    /// is exiting, and what its shelf held would otherwise be lost with it (found by
    /// memcheck, `tests/tools/valgrind.sh`). Returns how many blocks were given back.
    fn close(&mut self) -> usize {
        self.state = ShelfState::Closed;
        let mut released = 0;
        for row in &mut self.classes {
            while let Some(block) = row.pop() {
                // SAFETY: class blocks come from `malloc` (see `alloc`).
                unsafe { libc::free(block.cast()) };
                released += 1;
            }
        }
        for (layout, row) in self.aligned_layouts.iter_mut().zip(&mut self.aligned) {
            while let Some(block) = row.pop() {
                // SAFETY: blocks of an aligned row come from `System` with its layout.
                unsafe {
                    System.dealloc(block, Layout::from_size_align_unchecked(layout.0, layout.1))
                };
                released += 1;
            }
            *layout = (0, 0);
        }
        #[cfg(test)]
        RELEASED.fetch_add(released, std::sync::atomic::Ordering::Relaxed);
        released
    }

    /// Blocks kept for `place`, for tests.
    #[cfg(test)]
    fn count(&mut self, place: Place) -> usize {
        self.row_mut(place, false).map_or(0, |row| row.count)
    }
}

thread_local! {
    static SHELF: UnsafeCell<Shelf> = const { UnsafeCell::new(Shelf::new()) };
    /// Empties the thread's shelf when the thread exits. A separate key, so the hot
    /// path's `SHELF` has no destructor (and no liveness check); registered by the
    /// thread's first allocation from glibc ([`guard`]).
    static GUARD: Guard = const { Guard };
}

/// Blocks given back by [`Shelf::close`], for tests.
#[cfg(test)]
static RELEASED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        // SAFETY: the shelf is this thread's own, not borrowed while destructors run.
        let _ = SHELF.try_with(|s| unsafe { (*s.get()).close() });
    }
}

/// Lets this thread's shelf keep blocks, registering [`GUARD`] the first time. Called
/// on the slow path (a block from glibc), with no borrow of the shelf held: the state
/// is set first, so an allocation made while the destructor is registered does not
/// come back here.
#[cold]
fn guard() {
    // SAFETY: the shelf is this thread's own; the borrow ends within the closure.
    let unguarded = SHELF.try_with(|s| unsafe {
        let shelf = &mut *s.get();
        let first = shelf.state == ShelfState::Unguarded;
        if first {
            shelf.state = ShelfState::Guarded;
        }
        first
    });
    if unguarded == Ok(true) {
        // Touching the key registers its destructor.
        let _ = GUARD.try_with(|_| ());
    }
}

/// Whether a block of `layout` is shelved by size class: up to 16 KiB, aligned as
/// `malloc` aligns anyway.
#[inline]
fn by_class(layout: Layout) -> bool {
    layout.size() <= MAX_SIZE && layout.align() <= MALLOC_ALIGN
}

/// The class of a block of `size` bytes (at most [`MAX_SIZE`]): 0 up to 16 bytes, 1
/// up to 32, and so on.
#[inline]
fn class_of(size: usize) -> usize {
    let smallest = (1 << MIN_CLASS_SHIFT) - 1;
    let bits = usize::BITS - ((size.max(1) - 1) | smallest).leading_zeros();
    (bits - MIN_CLASS_SHIFT) as usize
}

/// The size of the blocks of `class`, as allocated from glibc.
#[inline]
fn class_size(class: usize) -> usize {
    1 << (class + MIN_CLASS_SHIFT as usize)
}

/// Where a block of `layout` is shelved, `None` for blocks glibc serves directly
/// (larger than 16 KiB).
fn place(layout: Layout) -> Option<Place> {
    if by_class(layout) {
        let class = class_of(layout.size());
        return Layout::from_size_align(class_size(class), MALLOC_ALIGN)
            .ok()
            .map(|l| Place::Class(class, l));
    }
    (layout.size() <= MAX_SIZE).then_some(Place::Aligned(layout))
}

// SAFETY: a shelved block comes from `System` with its place's layout (class blocks
// from `malloc` with their class's size, which is what `System` does for them), at
// least as large and as aligned as the layout asked for; a shelf row holds blocks of
// exactly one place, and every block returned is either shelved under the place it
// came from or given back the way it was allocated.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if by_class(layout) {
            // The hot path: a few loads and stores.
            let class = class_of(layout.size());
            // SAFETY: the shelf is this thread's own and not borrowed across calls;
            // `try_with` fails only during thread teardown.
            let hit = SHELF.try_with(|s| unsafe { (*s.get()).classes.get_mut(class)?.pop() });
            if let Ok(Some(block)) = hit {
                memcheck::undefined(block, layout.size());
                // SAFETY: within the class block (`class_size(class) >= size`).
                memcheck::no_access(
                    unsafe { block.add(layout.size()) },
                    class_size(class) - layout.size(),
                );
                return block;
            }
            guard();
            // SAFETY: malloc with a non-zero size; its blocks are 16-byte aligned.
            let block: *mut u8 = unsafe { libc::malloc(class_size(class)).cast() };
            if !block.is_null() {
                // SAFETY: as above.
                memcheck::no_access(
                    unsafe { block.add(layout.size()) },
                    class_size(class) - layout.size(),
                );
            }
            return block;
        }
        let Some(place) = place(layout) else {
            // SAFETY: forwarded with the caller's layout.
            return unsafe { System.alloc(layout) };
        };
        // SAFETY: as above.
        let hit = SHELF.try_with(|s| unsafe { (*s.get()).take(place) });
        match hit {
            Ok(Some(block)) => {
                memcheck::undefined(block, layout.size());
                block
            }
            _ => {
                guard();
                // SAFETY: a non-zero layout.
                unsafe { System.alloc(place.layout()) }
            }
        }
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        if by_class(layout) {
            let class = class_of(layout.size());
            let size = class_size(class);
            // SAFETY: as in `alloc`.
            let kept = SHELF.try_with(|s| unsafe { (*s.get()).put_class(block, class) });
            if kept == Ok(true) {
                memcheck::no_access(block, size);
            } else {
                // SAFETY: class blocks come from `malloc` (above).
                unsafe { libc::free(block.cast()) }
            }
            return;
        }
        let Some(place) = place(layout) else {
            // SAFETY: `block` came from `System` with this layout.
            return unsafe { System.dealloc(block, layout) };
        };
        // SAFETY: as in `alloc`.
        let kept = SHELF.try_with(|s| unsafe { (*s.get()).put(block, place) });
        if kept == Ok(true) {
            memcheck::no_access(block, place.layout().size());
        } else {
            // SAFETY: `block` came from `System` with its place's layout.
            unsafe { System.dealloc(block, place.layout()) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if place(layout).is_none() {
            // SAFETY: forwarded with the caller's layout.
            return unsafe { System.alloc_zeroed(layout) };
        }
        // SAFETY: as in `alloc`; a non-null block has at least `layout.size()` bytes.
        unsafe {
            let block = self.alloc(layout);
            if !block.is_null() {
                ptr::write_bytes(block, 0, layout.size());
            }
            block
        }
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract, forwarded; `new_size` with the old alignment
        // is a valid layout by that contract.
        unsafe {
            let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
            let (old_place, new_place) = (place(layout), place(new_layout));
            if old_place.is_none() && new_place.is_none() {
                return System.realloc(block, layout, new_size);
            }
            if old_place == new_place {
                // The same class: the block is already big enough. Bytes it gains are
                // undefined, bytes it loses inaccessible (memcheck).
                let old_size = layout.size();
                if new_size > old_size {
                    memcheck::undefined(block.add(old_size), new_size - old_size);
                } else {
                    memcheck::no_access(block.add(new_size), old_size - new_size);
                }
                return block;
            }
            let moved = self.alloc(new_layout);
            if !moved.is_null() {
                ptr::copy_nonoverlapping(block, moved, layout.size().min(new_size));
                self.dealloc(block, layout);
            }
            moved
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_aligned_block_is_reused_and_keeps_its_alignment() {
        let layout = Layout::from_size_align(3000, 128).unwrap();
        let a = Allocator;
        // SAFETY: blocks are used only with the layout they were allocated with.
        unsafe {
            let first = a.alloc(layout);
            assert_eq!(first as usize % 128, 0);
            a.dealloc(first, layout);
            let second = a.alloc(layout);
            assert_eq!(second, first, "the shelved block comes back");
            let zeroed = a.alloc_zeroed(layout);
            assert_eq!(zeroed as usize % 128, 0);
            assert!(std::slice::from_raw_parts(zeroed, layout.size())
                .iter()
                .all(|b| *b == 0));
            a.dealloc(second, layout);
            a.dealloc(zeroed, layout);
        }
    }

    #[test]
    fn a_full_shelf_gives_blocks_back_to_malloc() {
        let a = Allocator;
        let layout = Layout::from_size_align(4096, 256).unwrap();
        // SAFETY: as above.
        unsafe {
            let blocks: Vec<*mut u8> = (0..DEPTH * 2).map(|_| a.alloc(layout)).collect();
            let kept = DEPTH.min(ROW_BYTES / layout.size());
            assert!(blocks
                .iter()
                .all(|b| !b.is_null() && *b as usize % 256 == 0));
            for b in blocks {
                a.dealloc(b, layout);
            }
            let count = SHELF.with(|s| (*s.get()).count(Place::Aligned(layout)));
            assert_eq!(count, kept);
            let grown = a.realloc(a.alloc(layout), layout, 8192);
            assert_eq!(grown as usize % 256, 0);
            a.dealloc(grown, Layout::from_size_align(8192, 256).unwrap());
        }
    }

    /// Memcheck found that an exiting thread lost every block on its shelf (up to
    /// about 3 MB a thread): the shelf had no destructor. The guard now gives them
    /// back, and a closed shelf keeps nothing more.
    #[test]
    fn an_exiting_thread_gives_its_shelf_back_to_malloc() {
        let before = RELEASED.load(std::sync::atomic::Ordering::Relaxed);
        std::thread::spawn(|| {
            let a = Allocator;
            let (small, aligned) = (
                Layout::from_size_align(100, 8).unwrap(),
                Layout::from_size_align(2000, 64).unwrap(),
            );
            // SAFETY: each block is freed with the layout it was allocated with.
            unsafe {
                let blocks = [a.alloc(small), a.alloc(small), a.alloc(aligned)];
                a.dealloc(blocks[0], small);
                a.dealloc(blocks[1], small);
                a.dealloc(blocks[2], aligned);
                let kept = SHELF.with(|s| {
                    (*s.get()).count(place(small).unwrap())
                        + (*s.get()).count(place(aligned).unwrap())
                });
                assert_eq!(kept, 3);
            }
        })
        .join()
        .unwrap();
        let after = RELEASED.load(std::sync::atomic::Ordering::Relaxed);
        assert!(after >= before + 3, "{before} -> {after}");
    }

    /// Run by `tests/tools/valgrind.sh` under memcheck, which must report the read
    /// (the client requests reach memcheck). Outside valgrind the block is still
    /// glibc's, on the shelf, so the read is harmless.
    #[test]
    #[ignore = "run under valgrind by tests/tools/valgrind.sh, which expects an error"]
    fn memcheck_reports_a_read_of_a_shelved_block() {
        let a = Allocator;
        let layout = Layout::from_size_align(40, 8).unwrap();
        // SAFETY: deliberately reads a freed block, which is still a live glibc
        // block on this thread's shelf (that is what memcheck must be told).
        unsafe {
            let x = a.alloc(layout);
            x.write_bytes(1, layout.size());
            a.dealloc(x, layout);
            assert_eq!(SHELF.with(|s| (*s.get()).count(place(layout).unwrap())), 1);
            let _ = std::ptr::read_volatile(x);
        }
    }

    #[test]
    fn a_closed_shelf_keeps_nothing() {
        std::thread::spawn(|| {
            let a = Allocator;
            let layout = Layout::from_size_align(48, 8).unwrap();
            let class = place(layout).unwrap();
            // SAFETY: as above; the shelf is this thread's own.
            unsafe {
                let x = a.alloc(layout);
                a.dealloc(x, layout);
                assert_eq!(SHELF.with(|s| (*s.get()).close()), 1);
                let y = a.alloc(layout);
                assert!(!y.is_null());
                a.dealloc(y, layout);
                assert_eq!(SHELF.with(|s| (*s.get()).count(class)), 0);
                assert_eq!(SHELF.with(|s| (*s.get()).state), ShelfState::Closed);
            }
        })
        .join()
        .unwrap();
    }

    #[test]
    fn classes_are_powers_of_two_from_16_bytes() {
        let rows = [
            (1, 0),
            (16, 0),
            (17, 1),
            (32, 1),
            (33, 2),
            (1024, 6),
            (1025, 7),
        ];
        for (size, class) in rows {
            assert_eq!(class_of(size), class, "{size}");
            assert!(class_size(class) >= size);
        }
        assert_eq!(class_of(MAX_SIZE), CLASSES - 1);
        assert_eq!(class_size(CLASSES - 1), MAX_SIZE);
    }

    #[test]
    fn small_blocks_share_a_class_and_a_full_class_gives_blocks_back() {
        let a = Allocator;
        let (twenty, thirty) = (
            Layout::from_size_align(20, 8).unwrap(),
            Layout::from_size_align(30, 1).unwrap(),
        );
        assert_eq!(
            place(twenty),
            place(thirty),
            "both are in the 32-byte class"
        );
        let class = place(twenty).unwrap();
        // SAFETY: each block is freed with the layout it was allocated with.
        unsafe {
            let x = a.alloc(twenty);
            assert_eq!(x as usize % 16, 0);
            a.dealloc(x, twenty);
            let y = a.alloc(thirty);
            assert_eq!(x, y, "a freed 20-byte block serves a 30-byte one");
            a.dealloc(y, thirty);
            let before = SHELF.with(|s| (*s.get()).count(class));
            let blocks: Vec<*mut u8> = (0..DEPTH + 10).map(|_| a.alloc(twenty)).collect();
            for b in blocks {
                a.dealloc(b, twenty);
            }
            let after = SHELF.with(|s| (*s.get()).count(class));
            assert!(before < DEPTH);
            assert_eq!(after, DEPTH, "at most DEPTH kept, the rest given back");
        }
        assert_eq!(
            place(Layout::from_size_align(MAX_SIZE + 1, 1).unwrap()),
            None
        );
        assert_eq!(
            place(Layout::from_size_align(1, 1).unwrap()).map(Place::layout),
            Layout::from_size_align(16, 16).ok()
        );
    }

    #[test]
    fn buffers_grow_in_place_within_their_class_and_move_between_classes() {
        let a = Allocator;
        let small = Layout::from_size_align(1000, 1).unwrap();
        // SAFETY: each block is used with the layout of its latest (re)allocation.
        unsafe {
            let b = a.alloc(small);
            for i in 0..1000 {
                *b.add(i) = (i % 251) as u8;
            }
            // From the 1 KiB class into the 2 KiB one: moved, contents kept.
            let b = a.realloc(b, small, 1500);
            assert!((0..1000).all(|i| *b.add(i) == (i % 251) as u8));
            // 1500 → 2048 is the same class (2 KiB): not moved.
            let same = a.realloc(b, Layout::from_size_align(1500, 1).unwrap(), 2048);
            assert_eq!(same, b);
            *same.add(2047) = 7;
            // Into the next class: moved, contents kept.
            let big = a.realloc(same, Layout::from_size_align(2048, 1).unwrap(), 5000);
            assert!((0..1000).all(|i| *big.add(i) == (i % 251) as u8));
            assert_eq!(*big.add(2047), 7);
            // Out of the shelved range and back to glibc.
            let huge = a.realloc(big, Layout::from_size_align(5000, 1).unwrap(), 100_000);
            assert_eq!(*huge.add(2047), 7);
            a.dealloc(huge, Layout::from_size_align(100_000, 1).unwrap());
            // A freed 1.5 KiB buffer serves the next 2 KiB one.
            let x = a.alloc(Layout::from_size_align(1500, 1).unwrap());
            a.dealloc(x, Layout::from_size_align(1500, 1).unwrap());
            let y = a.alloc(Layout::from_size_align(2000, 1).unwrap());
            assert_eq!(x, y);
            a.dealloc(y, Layout::from_size_align(2000, 1).unwrap());
        }
    }
}
