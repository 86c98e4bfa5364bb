//! The counting allocator counts what it should, on the calling thread only.

use voxpace_test_kit::alloc::{count_on_this_thread, live_bytes, CountingAllocator, Counts};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

#[test]
fn counts_allocations_reallocations_and_frees_of_this_thread_only() {
    let (v, n) = count_on_this_thread(|| {
        let mut v: Vec<u64> = Vec::with_capacity(1);
        v.extend(0..100); // grows: reallocations
        v
    });
    assert!(n.allocations >= 2, "{n:?}");
    assert_eq!(n.frees, 0);
    let ((), n) = count_on_this_thread(|| drop(v));
    assert_eq!(
        n,
        Counts {
            allocations: 0,
            frees: 1
        }
    );
    // Another thread's allocations are not this thread's.
    let ((), n) = count_on_this_thread(|| {
        std::thread::scope(|s| {
            s.spawn(|| drop(std::hint::black_box(vec![0u8; 4096])));
        })
    });
    assert!(
        n.allocations < 10,
        "spawning a thread is counted, its work is not: {n:?}"
    );
    let ((), n) = count_on_this_thread(|| {
        std::hint::black_box(1 + 1);
    });
    assert_eq!(n.total(), 0);
}

#[test]
fn live_bytes_follow_what_is_held() {
    let before = live_bytes();
    let held = std::hint::black_box(vec![0u8; 1 << 20]);
    let during = live_bytes();
    drop(held);
    // Other tests run in parallel threads: compare with a wide margin.
    assert!(during - before > 900 * 1024, "{}", during - before);
}
