//! The global allocator: glibc's `malloc`, with one addition. Blocks aligned beyond
//! 16 bytes are kept on a small per-thread shelf when freed and handed out again for
//! the same layout. The request future is such a block (monoio's timer entries are
//! cache-padded, so any future that holds a timeout is 128-byte aligned) and it is
//! allocated and freed once per request; glibc's `posix_memalign` over-allocates,
//! splits and, being a large request, first consolidates the fast bins, about 2,700
//! instructions per request under callgrind (docs/performance.md). From the shelf it
//! is a few loads and stores.
//!
//! The shelf holds at most [`DEPTH`] blocks of each of [`LAYOUTS`] layouts up to
//! [`MAX_SIZE`] bytes per thread; everything else goes straight to glibc.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::ptr;

/// Alignment glibc's `malloc` gives anyway; above it a block goes to the shelf.
const MALLOC_ALIGN: usize = 16;
/// Blocks larger than this are not shelved.
const MAX_SIZE: usize = 16 * 1024;
/// Distinct layouts a thread shelves.
const LAYOUTS: usize = 4;
/// Blocks kept per layout.
const DEPTH: usize = 32;

/// glibc's allocator with a shelf for over-aligned blocks.
#[derive(Debug)]
pub struct Allocator;

struct Shelf {
    /// (size, align) of each row; size 0 is an unused row.
    layouts: [(usize, usize); LAYOUTS],
    blocks: [[*mut u8; DEPTH]; LAYOUTS],
    counts: [usize; LAYOUTS],
}

impl Shelf {
    const fn new() -> Shelf {
        Shelf {
            layouts: [(0, 0); LAYOUTS],
            blocks: [[ptr::null_mut(); DEPTH]; LAYOUTS],
            counts: [0; LAYOUTS],
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

fn shelved(layout: Layout) -> bool {
    layout.align() > MALLOC_ALIGN && layout.size() <= MAX_SIZE
}

// SAFETY: every block handed out comes from `System` with a layout at least as strict
// as the one asked for (a shelf row holds blocks of exactly one layout), and every
// block returned is either shelved for that same layout or given back to `System`.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if shelved(layout) {
            // SAFETY: the shelf is this thread's own and not borrowed across calls;
            // `try_with` fails only during thread teardown.
            let hit = SHELF.try_with(|s| unsafe { (*s.get()).take(layout) });
            if let Ok(Some(block)) = hit {
                return block;
            }
        }
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        if shelved(layout) {
            // SAFETY: as in `alloc`.
            let kept = SHELF.try_with(|s| unsafe { (*s.get()).put(block, layout) });
            if kept == Ok(true) {
                return;
            }
        }
        // SAFETY: `block` came from `System` with this layout.
        unsafe { System.dealloc(block, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if shelved(layout) {
            // SAFETY: as in `alloc`; a non-null block has `layout.size()` bytes.
            unsafe {
                let block = self.alloc(layout);
                if !block.is_null() {
                    ptr::write_bytes(block, 0, layout.size());
                }
                return block;
            }
        }
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract, forwarded. An over-aligned block moves through
        // `alloc` and `dealloc` so that it never reaches `System` with a layout the
        // shelf gave out.
        unsafe {
            if layout.align() <= MALLOC_ALIGN {
                return System.realloc(block, layout, new_size);
            }
            let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
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
            assert_eq!(count, Some(DEPTH));
            let grown = a.realloc(a.alloc(layout), layout, 8192);
            assert_eq!(grown as usize % 256, 0);
            a.dealloc(grown, Layout::from_size_align(8192, 256).unwrap());
        }
    }
}
