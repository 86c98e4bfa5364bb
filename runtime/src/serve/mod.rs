//! `voxpace serve`: agent outputs behind an HTTP control API.
//!
//! Every output is a core track rendered by one shared [`voxpace_core::FrameClock`] thread
//! (many outputs, one timer). The control API (axum) opens replies and streams their PCM in,
//! pauses, resumes, interrupts, changes the background and fires clips; events go out as
//! server-sent events; `/metrics` speaks Prometheus' text format; `/openapi.json` describes
//! it all; `/` is a page to listen and try the buttons. With the `webrtc` feature each
//! output is also published over WHEP (and WHIP when configured).
//!
//! The rooms, from the door inwards (nothing imports back up):
//! - [`server`](Server): start; `conn`: the front door (connection limits and timeouts);
//!   `shutdown`: graceful shutdown and signals ([`run`]); `auth`: the token rule.
//! - `api`: the router and one file per resource (outputs, replies, marks, control,
//!   background and clips, events, audio monitor, info and metrics, the OpenAPI document).
//! - `stream`: the reply-streaming engine (request bodies into a reply's writer, PCM, WAV or
//!   compressed, judged against real time) and a reply as the API shows it.
//! - `state`: the app state and the output registry (create, end); [`output`]: one agent
//!   output; `frame`: its frame hook on the clock thread (meter, monitors, the WebRTC feed);
//!   `publish`: its WHIP publish; `metrics`: the Prometheus text.
//! - Leaves: [`intake`] and `wav` (wire formats), `event` (the event stream's message),
//!   `error` ([`ApiError`]).

mod api;
mod auth;
mod conn;
mod error;
mod event;
mod frame;
pub mod intake;
mod metrics;
pub mod output;
mod publish;
mod server;
mod shutdown;
mod state;
mod stream;
mod wav;

pub use error::ApiError;
pub use server::Server;
pub use shutdown::run;
