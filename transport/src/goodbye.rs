//! How a session notices that its peer has gone, in the order a peer can tell us:
//!
//! - it says so: an RTCP BYE (seen by [`ByeWatch`], an interceptor in every peer connection's
//!   chain) or a DTLS `close_notify` (the DTLS transport turns `closed`);
//! - the connection state says so: `failed`, `closed`, or `disconnected` once nothing has
//!   been heard for `ice_disconnected_timeout` (the peer vanished).
//!
//! A peer's `close_notify` does not change the peer connection state (W3C webrtc-pc counts a
//! closed DTLS transport as "connected" while ICE is up), so without looking at the DTLS
//! transport a closed listener was only dropped when consent freshness ran out, seconds later.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rtc::interceptor::{Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::peer_connection::transport::RTCDtlsTransportState;
use rtc::rtcp::goodbye::Goodbye;
use rtc::sansio::Protocol;
use tokio::sync::watch;
use webrtc::peer_connection::transport::DtlsTransport;
use webrtc::peer_connection::{PeerConnection, RTCPeerConnectionState};

/// How often the DTLS transport's state is read while a session is up. A read takes the
/// connection's core lock once; at 256 sessions this is ~1300 short lock holds a second.
const DTLS_POLL: Duration = Duration::from_millis(200);

/// Where [`ByeWatch`] sits in the interceptor chain: it only observes, after every named
/// interceptor (see `rtc::interceptor::Slot`).
pub(crate) const BYE_WATCH_SLOT: usize = 14_000;

/// Raises its flag when an inbound RTCP compound packet holds a BYE; passes every packet on
/// unchanged.
pub(crate) struct ByeWatch {
    bye: watch::Sender<bool>,
    read: VecDeque<TaggedPacket>,
    write: VecDeque<TaggedPacket>,
}

impl ByeWatch {
    /// The interceptor and the flag it raises.
    pub(crate) fn new() -> (Self, watch::Receiver<bool>) {
        let (bye, rx) = watch::channel(false);
        let watch = Self {
            bye,
            read: VecDeque::new(),
            write: VecDeque::new(),
        };
        (watch, rx)
    }
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for ByeWatch {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = rtc::shared::error::Error;
    type Time = Instant;

    fn handle_read(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            if packets.iter().any(|p| p.as_any().is::<Goodbye>()) {
                self.bye.send_replace(true);
            }
        }
        self.read.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.read.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.write.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.write.pop_front()
    }
}

impl Interceptor for ByeWatch {
    fn bind_local_stream(&mut self, _: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _: &StreamInfo) {}
}

/// Resolves when the peer of a connected session has gone, with the reason.
pub(crate) async fn peer_gone(
    pc: &Arc<dyn PeerConnection>,
    state: &mut watch::Receiver<RTCPeerConnectionState>,
    bye: &mut watch::Receiver<bool>,
) -> String {
    tokio::select! {
        ended = state.wait_for(|s| {
            matches!(
                s,
                RTCPeerConnectionState::Disconnected
                    | RTCPeerConnectionState::Failed
                    | RTCPeerConnectionState::Closed
            )
        }) => match ended {
            Ok(s) => format!("connection {}", *s),
            Err(_) => "peer connection dropped".to_owned(),
        },
        said = bye.wait_for(|b| *b) => match said {
            Ok(_) => "the peer sent RTCP BYE".to_owned(),
            Err(_) => "peer connection dropped".to_owned(),
        },
        why = dtls_closed(pc) => why,
    }
}

/// Resolves once the DTLS transport is closed (the peer's `close_notify`) or failed. The
/// transport is reached through a sender or receiver, and a receive-only transceiver gets
/// its receiver only when the remote track arrives, so it is looked for until found.
async fn dtls_closed(pc: &Arc<dyn PeerConnection>) -> String {
    let mut dtls = None;
    let mut tick = tokio::time::interval(DTLS_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if dtls.is_none() {
            dtls = dtls_transport(pc).await;
        }
        let Some(transport) = &dtls else { continue };
        match transport.state().await {
            Ok(RTCDtlsTransportState::Closed) => {
                return "the peer closed DTLS (close_notify)".to_owned()
            }
            Ok(RTCDtlsTransportState::Failed) => return "DTLS failed".to_owned(),
            Ok(_) => {}
            Err(_) => return "DTLS transport gone".to_owned(),
        }
    }
}

/// The (bundled) DTLS transport every sender and receiver of `pc` shares.
async fn dtls_transport(pc: &Arc<dyn PeerConnection>) -> Option<Arc<dyn DtlsTransport>> {
    for sender in pc.get_senders().await {
        if let Ok(Some(t)) = sender.transport().await {
            return Some(t);
        }
    }
    for receiver in pc.get_receivers().await {
        if let Ok(Some(t)) = receiver.transport().await {
            return Some(t);
        }
    }
    None
}
