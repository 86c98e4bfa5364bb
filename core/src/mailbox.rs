//! A lock-free multi-producer mailbox for rare commands to the frame side.
//!
//! Producers push boxed nodes onto an atomic stack (and the track's handle then raises a
//! flag beside the track's other atomics, which the frame side reads every frame); when it
//! is raised, the frame side takes the whole stack with one swap and replays it in
//! push order. An idle track pays one pointer for it, where a ring would cost a few hundred
//! bytes per track, and nothing is ever waited on.

use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

struct Node<T> {
    value: T,
    next: *mut Node<T>,
}

/// An unbounded lock-free queue: many producers, one consumer that takes everything at once.
pub(crate) struct Mailbox<T> {
    head: AtomicPtr<Node<T>>,
}

// SAFETY: nodes are handed from producers to the single consumer through the atomic head
// with release/acquire ordering; a `T: Send` value only ever moves between threads.
unsafe impl<T: Send> Send for Mailbox<T> {}
unsafe impl<T: Send> Sync for Mailbox<T> {}

impl<T> Mailbox<T> {
    pub(crate) const fn new() -> Self {
        Self {
            head: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// Add a value (allocates one node; called off the frame path).
    pub(crate) fn push(&self, value: T) {
        let node = Box::into_raw(Box::new(Node {
            value,
            next: ptr::null_mut(),
        }));
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            // SAFETY: `node` is ours until the exchange below publishes it.
            unsafe { (*node).next = head };
            match self
                .head
                .compare_exchange_weak(head, node, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(current) => head = current,
            }
        }
    }

    /// Take every value pushed so far, oldest first. One load when empty.
    pub(crate) fn drain(&self, mut f: impl FnMut(T)) {
        if self.head.load(Ordering::Relaxed).is_null() {
            return;
        }
        let mut list = self.head.swap(ptr::null_mut(), Ordering::Acquire);
        // The stack is newest first: reverse it to replay in push order.
        let mut reversed: *mut Node<T> = ptr::null_mut();
        while !list.is_null() {
            // SAFETY: the swap gave this consumer sole ownership of every node in `list`.
            let next = unsafe { (*list).next };
            unsafe { (*list).next = reversed };
            reversed = list;
            list = next;
        }
        while !reversed.is_null() {
            // SAFETY: each node was created by `Box::into_raw` in `push` and is freed once.
            let node = unsafe { Box::from_raw(reversed) };
            reversed = node.next;
            f(node.value);
        }
    }
}

impl<T> Drop for Mailbox<T> {
    fn drop(&mut self) {
        self.drain(drop);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn replays_in_push_order_across_threads() {
        let mailbox = Arc::new(Mailbox::new());
        let producers: Vec<_> = (0..4u32)
            .map(|p| {
                let m = mailbox.clone();
                std::thread::spawn(move || {
                    for i in 0..1000u32 {
                        m.push((p, i));
                    }
                })
            })
            .collect();
        let mut seen: Vec<Vec<u32>> = vec![Vec::new(); 4];
        let mut total = 0;
        while total < 4000 {
            mailbox.drain(|(p, i)| {
                seen[p as usize].push(i);
                total += 1;
            });
        }
        for p in producers {
            p.join().unwrap();
        }
        for s in seen {
            assert_eq!(
                s,
                (0..1000).collect::<Vec<_>>(),
                "each producer's order kept"
            );
        }
    }

    #[test]
    fn values_left_behind_are_dropped() {
        let value = Arc::new(());
        let mailbox = Mailbox::new();
        mailbox.push(value.clone());
        mailbox.push(value.clone());
        drop(mailbox);
        assert_eq!(Arc::strong_count(&value), 1);
    }
}
