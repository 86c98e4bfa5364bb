//! The background as its own WebRTC track.
//!
//! By default the track mixes background under speech, so single-track players and SIP
//! bridges hear both. [`split_background`] wraps the background [`Source`] so that its
//! frames go to a second [`Publisher`] instead of into the mix: install the returned
//! [`BackgroundTap`] with `TrackHandle::set_background` and publish both publishers.

use voxpace_core::{BusContext, Source};

use crate::FrameFeed;

/// A [`Source`] that sends the wrapped source's frames to a publisher and leaves the mix
/// silent. Frame-path safe: the copy into the feed's ring neither allocates nor locks.
#[derive(Debug)]
pub struct BackgroundTap<S> {
    inner: S,
    feed: FrameFeed,
}

/// Route `source` to `feed` (the background publisher's feed) instead of the main mix.
pub fn split_background<S: Source>(source: S, feed: FrameFeed) -> BackgroundTap<S> {
    BackgroundTap {
        inner: source,
        feed,
    }
}

impl<S> BackgroundTap<S> {
    /// The wrapped source.
    pub fn inner_mut(&mut self) -> &mut S {
        &mut self.inner
    }
}

impl<S: Source> Source for BackgroundTap<S> {
    fn fill(&mut self, out: &mut [i16], cx: &BusContext) {
        self.inner.fill(out, cx);
        self.feed.push_pcm(cx.pts, false, out);
        out.fill(0);
    }
}
