//! # voxpace-transport: a voxpace track delivered to WebRTC peers
//!
//! ```text
//!  Track::render / Pacer / FrameClock ──FrameFeed::push──▶ Publisher (Opus encoder task)
//!                                                            │ RTP written to each listener
//!              ┌─────────────────────────────────────────────┼───────────────────────┐
//!              ▼                                             ▼                       ▼
//!   WhepServer (axum Router): viewers POST offers   WhipSession: publish to an SFU   ...
//! ```
//!
//! Contents:
//! - [`Publisher`] and [`FrameFeed`]: frames in (allocation-free, lock-free), Opus packets
//!   out, RTP time derived from the track's pts. [`PublisherConfig`], [`OpusConfig`].
//! - [`WhepServer`]: WHEP egress as an axum [`axum::Router`]; [`ServerConfig`] (bearer token,
//!   CORS, body limit, session limit, [`PeerSettings`]).
//! - [`WhipSession`]: publish tracks to a WHIP endpoint (RFC 9725); [`WhepViewer`]: play a
//!   WHEP stream (for monitoring and tests); [`ClientOptions`].
//! - [`WhipPublisher`]: keep tracks published over WHIP while they live (capped exponential
//!   backoff with jitter, republish after a lost connection, DELETE on stop);
//!   [`PublishStatus`], [`Backoff`].
//! - [`WhipIngest`]: a WHIP endpoint that receives audio ([`IngestedTrack`]).
//! - [`split_background`]: send the background bus as its own track instead of mixed.
//! - [`SilenceGate`]: which frames reach the encoder (digital silence is not encoded).
//! - [`OpusEncoder`], [`OpusDecoder`]: the codec, also for receivers.
//! - [`Error`]: everything that can go wrong, and [`Error::kind`] (what a caller can do).

mod admission;
mod background;
mod client;
mod error;
mod goodbye;
mod listeners;
mod media;
mod opus;
mod peer;
mod publisher;
mod republish;
mod sdp;
mod server;
mod silence;
mod traced;
mod whep;

pub use background::{split_background, BackgroundTap};
pub use client::{ClientOptions, WhepViewer, WhipSession};
pub use error::Error;
pub use media::RtpAudioPacket;
pub use opus::{
    rtp_clock_factor, OpusApplication, OpusConfig, OpusDecoder, OpusEncoder, OPUS_RTP_CLOCK,
};
pub use peer::{IceServer, PeerSettings};
pub use publisher::{EncodedFrame, FrameFeed, Publisher, PublisherConfig, PublisherStats};
pub use republish::{Backoff, PublishState, PublishStatus, WhipPublisher, WhipPublisherConfig};
pub use server::{IngestedTrack, ServerConfig};
pub use silence::SilenceGate;
pub use whep::{WhepServer, WhipIngest};
