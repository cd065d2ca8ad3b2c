//! The small rule-bearing writes of mass testing, planned once: boxing tubes, the lab's
//! receipt, exemptions. Each takes the facts a backend read and says whether the write
//! goes ahead; the backend then writes it or nothing.

use cordon_domain::error::FieldError;
use cordon_domain::testing::{Refusal, TubeEvent, TubeState, transition};

/// Boxing: every tube named must exist (`None`: not found) and be sealed.
pub fn plan_box(tubes: &[Option<TubeState>]) -> Result<(), FieldError> {
    for t in tubes {
        let state = t.ok_or_else(|| Refusal::TubeUnknown.error())?;
        transition(state, TubeEvent::PutInBox)?;
    }
    Ok(())
}

/// What the lab scanned on receipt, as found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptFact {
    /// A box code: whether such a box exists (its boxed tubes are received).
    Box { exists: bool },
    /// A tube barcode: its state, `None` when there is no such tube.
    Tube(Option<TubeState>),
}

/// Receipt: a box must exist; a tube must exist and be sealed or boxed (a tube carried by
/// hand comes without a box).
pub fn plan_receive(fact: ReceiptFact) -> Result<(), FieldError> {
    match fact {
        ReceiptFact::Box { exists: true } => Ok(()),
        ReceiptFact::Box { exists: false } => Err(Refusal::BoxUnknown.error()),
        ReceiptFact::Tube(None) => Err(Refusal::TubeUnknown.error()),
        ReceiptFact::Tube(Some(s)) => transition(s, TubeEvent::Receive).map(|_| ()),
    }
}

/// An exemption from a round: not for someone sampled in it already.
pub fn plan_exemption(sampled: bool) -> Result<(), FieldError> {
    if sampled { Err(Refusal::SampledAlready.error()) } else { Ok(()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxing_and_receipt_follow_the_tube_machine() {
        assert!(plan_box(&[Some(TubeState::Sealed), Some(TubeState::Sealed)]).is_ok());
        assert_eq!(plan_box(&[Some(TubeState::Sealed), None]).unwrap_err().code, "tube_unknown");
        assert_eq!(plan_box(&[Some(TubeState::Open)]).unwrap_err().code, "tube_state");
        assert!(plan_receive(ReceiptFact::Tube(Some(TubeState::Sealed))).is_ok());
        assert!(plan_receive(ReceiptFact::Tube(Some(TubeState::Boxed))).is_ok());
        assert_eq!(plan_receive(ReceiptFact::Tube(Some(TubeState::Received))).unwrap_err().code, "tube_state");
        assert_eq!(plan_receive(ReceiptFact::Box { exists: false }).unwrap_err().code, "box_unknown");
        assert_eq!(plan_exemption(true).unwrap_err().code, "sampled_already");
    }
}
