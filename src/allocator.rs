//! The global allocator: glibc's `malloc`, with a small per-thread shelf in front of
//! it for the two kinds of block the request path allocates and frees once per request
//! and glibc serves slowly:
//!
//! - blocks aligned beyond 16 bytes: the request future (monoio's timer entries are
//!   cache-padded, so any future that holds a timeout is 128-byte aligned), which
//!   `posix_memalign` over-allocates and splits;
//! - buffers of 1–16 KiB (a response head with a small file, read buffers), which glibc
//!   serves from its large bins after consolidating the fast bins.
//!
//! Together these cost about 3,000 instructions per request under callgrind
//! (docs/performance.md); from the shelf each is a few loads and stores. Buffers are
//! shelved by size class (the next power of two), so a buffer that grows within its
//! class is not moved.
//!
//! The shelf holds at most [`DEPTH`] blocks and [`ROW_BYTES`] in each of [`ROWS`] rows
//! (one per layout or class) per thread, so at most two megabytes, about what glibc
//! would keep of the same blocks anyway (its trim threshold is raised, `sys.rs`);
//! everything else goes straight to glibc. The depth covers the requests a worker
//! has in flight at once under load (a response head waits for its write).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::ptr;

/// Alignment glibc's `malloc` gives anyway; above it a block goes to the shelf.
const MALLOC_ALIGN: usize = 16;
/// Blocks larger than this are not shelved.
const MAX_SIZE: usize = 16 * 1024;
/// Buffers larger than this (and up to [`MAX_SIZE`]) are shelved by size class; up to
/// it glibc's per-thread cache serves them well.
const MIN_CLASS_SIZE: usize = 1024;
/// Distinct layouts and classes a thread shelves.
const ROWS: usize = 8;
/// Blocks kept per row, at most.
const DEPTH: usize = 64;
/// Bytes kept per row, at most (so a row of 16 KiB buffers holds 16).
const ROW_BYTES: usize = 256 * 1024;

/// glibc's allocator with a shelf for over-aligned blocks.
#[derive(Debug)]
pub struct Allocator;

struct Shelf {
    /// (size, align) of each row; size 0 is an unused row.
    layouts: [(usize, usize); ROWS],
    blocks: [[*mut u8; DEPTH]; ROWS],
    counts: [usize; ROWS],
}

impl Shelf {
    const fn new() -> Shelf {
        Shelf {
            layouts: [(0, 0); ROWS],
            blocks: [[ptr::null_mut(); DEPTH]; ROWS],
            counts: [0; ROWS],
        }
    }

    fn row(&self, layout: Layout) -> Option<usize> {
        let key = (layout.size(), layout.align());
        self.layouts.iter().position(|l| *l == key)
    }

    fn take(&mut self, layout: Layout) -> Option<*mut u8> {
        let row = self.row(layout)?;
        let count = self.counts.get_mut(row)?;
        *count = count.checked_sub(1)?;
        self.blocks.get(row)?.get(*count).copied()
    }

    /// Keeps `block`; `false` when its row is full or no row is free for its layout.
    fn put(&mut self, block: *mut u8, layout: Layout) -> bool {
        let row = match self.row(layout) {
            Some(row) => row,
            None => match self.layouts.iter().position(|l| l.0 == 0) {
                Some(free) => {
                    self.layouts[free] = (layout.size(), layout.align());
                    free
                }
                None => return false,
            },
        };
        let count = self.counts[row];
        if (count + 1) * layout.size() > ROW_BYTES {
            return false;
        }
        match self.blocks[row].get_mut(count) {
            Some(slot) => {
                *slot = block;
                self.counts[row] = count + 1;
                true
            }
            None => false,
        }
    }
}

thread_local! {
    static SHELF: UnsafeCell<Shelf> = const { UnsafeCell::new(Shelf::new()) };
}

/// The layout a block is shelved under, `None` for blocks glibc serves directly:
/// over-aligned blocks as they are, mid-size buffers rounded up to their class.
fn shelf_layout(layout: Layout) -> Option<Layout> {
    let size = layout.size();
    if size > MAX_SIZE {
        return None;
    }
    if layout.align() > MALLOC_ALIGN {
        return Some(layout);
    }
    if size <= MIN_CLASS_SIZE {
        return None;
    }
    // One row per class whatever the alignment asked for: `malloc` gives 16 anyway.
    Layout::from_size_align(size.next_power_of_two(), MALLOC_ALIGN).ok()
}

// SAFETY: a shelved block comes from `System` with its shelf layout, which is at least
// as large and as aligned as the layout asked for; a shelf row holds blocks of exactly
// one shelf layout, and every block returned is either shelved under the shelf layout
// it came from or given back to `System` with that layout.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(shelf) = shelf_layout(layout) else {
            // SAFETY: forwarded with the caller's layout.
            return unsafe { System.alloc(layout) };
        };
        // SAFETY: the shelf is this thread's own and not borrowed across calls;
        // `try_with` fails only during thread teardown.
        let hit = SHELF.try_with(|s| unsafe { (*s.get()).take(shelf) });
        match hit {
            Ok(Some(block)) => block,
            // SAFETY: a non-zero layout.
            _ => unsafe { System.alloc(shelf) },
        }
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        let Some(shelf) = shelf_layout(layout) else {
            // SAFETY: `block` came from `System` with this layout.
            return unsafe { System.dealloc(block, layout) };
        };
        // SAFETY: as in `alloc`.
        let kept = SHELF.try_with(|s| unsafe { (*s.get()).put(block, shelf) });
        if kept != Ok(true) {
            // SAFETY: `block` came from `System` with its shelf layout.
            unsafe { System.dealloc(block, shelf) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if shelf_layout(layout).is_none() {
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
            let (old_shelf, new_shelf) = (shelf_layout(layout), shelf_layout(new_layout));
            if old_shelf.is_none() && new_shelf.is_none() {
                return System.realloc(block, layout, new_size);
            }
            if old_shelf == new_shelf {
                // The same class: the block is already big enough.
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
            let count = SHELF.with(|s| {
                let shelf = &*s.get();
                shelf.row(layout).map(|r| shelf.counts[r])
            });
            assert_eq!(count, Some(kept));
            let grown = a.realloc(a.alloc(layout), layout, 8192);
            assert_eq!(grown as usize % 256, 0);
            a.dealloc(grown, Layout::from_size_align(8192, 256).unwrap());
        }
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
            // glibc's block into a class: moved, contents kept.
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
