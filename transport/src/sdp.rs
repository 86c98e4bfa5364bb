//! Checking an SDP offer before any peer connection is built for it, so that every bad offer
//! gets a precise explanation instead of an opaque negotiation failure.

use webrtc::peer_connection::RTCSessionDescription;

/// What the offering side must be able to do with the audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wants {
    /// The offerer receives audio (a WHEP player).
    Receive,
    /// The offerer sends audio (a WHIP publisher).
    Send,
}

/// Why an offer was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OfferProblem {
    /// Not parseable SDP (maps to 400).
    Malformed(String),
    /// Parseable, but no usable audio, no Opus or the wrong direction (maps to 422).
    Unusable(String),
}

/// A checked offer and how many usable audio sections it has.
#[derive(Debug)]
pub(crate) struct CheckedOffer {
    pub desc: RTCSessionDescription,
    pub audio_sections: usize,
}

/// Parse and check an offer's text.
pub(crate) fn check_offer(text: &str, wants: Wants) -> Result<CheckedOffer, OfferProblem> {
    if !text.trim_start().starts_with("v=0") {
        return Err(OfferProblem::Malformed(
            "body is not an SDP offer (it must start with \"v=0\")".into(),
        ));
    }
    let desc = RTCSessionDescription::offer(text.to_owned())
        .map_err(|e| OfferProblem::Malformed(format!("SDP does not parse: {e}")))?;
    let parsed = desc
        .unmarshal()
        .map_err(|e| OfferProblem::Malformed(format!("SDP does not parse: {e}")))?;

    let audio: Vec<_> = parsed
        .media_descriptions
        .iter()
        .filter(|m| m.media_name.media == "audio" && m.media_name.port.value != 0)
        .collect();
    if audio.is_empty() {
        let kinds: Vec<&str> = parsed
            .media_descriptions
            .iter()
            .map(|m| m.media_name.media.as_str())
            .collect();
        return Err(OfferProblem::Unusable(format!(
            "the offer has no audio section (it has: {}); offer an audio transceiver",
            if kinds.is_empty() {
                "no media at all".to_owned()
            } else {
                kinds.join(", ")
            }
        )));
    }
    // Without ICE credentials or a DTLS fingerprint no connection can be built: say so
    // (400) instead of failing later inside the WebRTC stack (500).
    let session_has = |k: &str| parsed.attributes.iter().any(|a| a.key == k);
    for m in &audio {
        for (key, what) in [
            ("ice-ufrag", "ICE username fragment (a=ice-ufrag)"),
            ("ice-pwd", "ICE password (a=ice-pwd)"),
            ("fingerprint", "DTLS fingerprint (a=fingerprint)"),
        ] {
            if !session_has(key) && !m.attributes.iter().any(|a| a.key == key) {
                return Err(OfferProblem::Malformed(format!(
                    "the offer's audio section (mid {}) has no {what}, at media or session level",
                    m.attributes
                        .iter()
                        .find(|a| a.key == "mid")
                        .and_then(|a| a.value.as_deref())
                        .unwrap_or("?")
                )));
            }
        }
    }
    let with_opus: Vec<_> = audio
        .iter()
        .filter(|m| {
            m.attributes.iter().any(|a| {
                a.key == "rtpmap"
                    && a.value
                        .as_deref()
                        .is_some_and(|v| v.to_ascii_lowercase().contains("opus/48000"))
            })
        })
        .collect();
    if with_opus.is_empty() {
        return Err(OfferProblem::Unusable(
            "the offer's audio does not include Opus (opus/48000/2); this server sends Opus only"
                .into(),
        ));
    }
    let usable = with_opus
        .iter()
        .filter(|m| {
            let flag = |k: &str| m.attributes.iter().any(|a| a.key == k);
            match wants {
                Wants::Receive => !flag("sendonly") && !flag("inactive"),
                Wants::Send => !flag("recvonly") && !flag("inactive"),
            }
        })
        .count();
    if usable == 0 {
        return Err(OfferProblem::Unusable(match wants {
            Wants::Receive => "the offer's audio is sendonly or inactive; a WHEP offer must receive audio (recvonly)".into(),
            Wants::Send => "the offer's audio is recvonly or inactive; a WHIP offer must send audio (sendonly)".into(),
        }));
    }
    Ok(CheckedOffer {
        desc,
        audio_sections: usable,
    })
}
