//! The reconciler's plan: what to do in a tenant so that it holds exactly the desired artifacts.
//!
//! Install, upgrade, repair and uninstall are one computation with different inputs: the desired
//! artifacts (the manifest, or nothing for an uninstall), the ledger (what the app recorded), and,
//! for a repair, what the tenant actually holds (observed through targeted calls). The plan is pure
//! (no I/O), so it is tested exhaustively and benchmarked on its own; the engine applies it with the
//! ledger's intent-before-effect discipline.
//!
//! Decisions, per artifact:
//!
//! | desired | ledger | observed | action |
//! |---|---|---|---|
//! | yes | created, same fingerprint | not read, or present as declared | keep |
//! | yes | created, other fingerprint (or none) | not read | update |
//! | yes | anything | present, not as declared | update |
//! | yes | none, intent or removed | not read | create (finds it by identity first) |
//! | yes | anything | absent | create |
//! | yes | not created, or another fingerprint | present as declared | adopt (record only) |
//! | no | created or intent | not read, or present | remove |
//! | no | created or intent | absent | forget |
//! | no | removed | present | remove (a restore brought it back) |
//! | no | removed | not read, or absent | keep the record |
//!
//! Nothing outside the desired artifacts and the ledger is ever touched: an item the app did not
//! record and does not declare is someone else's.

use std::collections::{HashMap, HashSet};

use crate::ledger::{EntryState, LedgerEntry};
use crate::manifest::Artifact;

/// What the tenant should hold.
#[derive(Debug, Clone, Copy)]
pub enum Desired<'a> {
    /// The manifest's artifacts, in creation order.
    Manifest(&'a [Artifact]),
    /// Nothing: the uninstall.
    Nothing,
}

impl<'a> Desired<'a> {
    fn artifacts(self) -> &'a [Artifact] {
        match self {
            Desired::Manifest(a) => a,
            Desired::Nothing => &[],
        }
    }
}

/// What a targeted read found in the tenant for one artifact (by its ledger key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    Absent,
    /// There, with this SuperOffice id (as the ledger records it); `as_declared` says whether it
    /// shows what the manifest declares (always `true` for an artifact no longer declared).
    Present {
        id: String,
        as_declared: bool,
    },
}

/// What the tenant was found to hold, by ledger key; `None` in [`plan`] means "not read" (the
/// ledger is trusted, as for an install or upgrade).
pub type Observations = HashMap<String, Observed>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Nothing to do.
    Keep,
    /// Make it exist: the kind finds it by its identity first (an intent's artifact, one left by an
    /// earlier install), else creates it.
    Create,
    /// Change the existing artifact to the declaration.
    Update,
    /// It is in the tenant as declared: record it, without a call.
    Adopt,
    /// Take it out of the tenant.
    Remove,
    /// It is not in the tenant any more: drop it from the ledger, without a call.
    Forget,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Keep => "keep",
            Action::Create => "create",
            Action::Update => "update",
            Action::Adopt => "adopt",
            Action::Remove => "remove",
            Action::Forget => "forget",
        }
    }
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step<'a> {
    pub action: Action,
    /// The ledger's key (`kind:identity`).
    pub key: String,
    /// The creation sequence the ledger records it under: the entry's own, or a new one after every
    /// recorded sequence (so removal, newest first, undoes creation order).
    pub seq: u32,
    /// The declaration, for a desired artifact.
    pub artifact: Option<&'a Artifact>,
    /// The ledger's entry, if it has one.
    pub entry: Option<&'a LedgerEntry>,
    /// The id to record for an adoption (what the observation found).
    pub adopt_id: Option<String>,
}

/// An ordered plan: removals first, newest first (an artifact created later may depend on an
/// earlier one, as a field on its list), then the desired artifacts in the manifest's order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan<'a> {
    pub steps: Vec<Step<'a>>,
}

impl<'a> Plan<'a> {
    /// The steps that change something (everything but [`Action::Keep`]).
    pub fn changes(&self) -> impl Iterator<Item = &Step<'a>> {
        self.steps.iter().filter(|s| s.action != Action::Keep)
    }

    /// Whether applying the plan would change nothing.
    pub fn is_empty(&self) -> bool {
        self.changes().next().is_none()
    }

    /// How many steps of each action, in a fixed order (for logs, pages and `soapp manifest plan`).
    pub fn counts(&self) -> Vec<(Action, usize)> {
        [
            Action::Create,
            Action::Update,
            Action::Adopt,
            Action::Remove,
            Action::Forget,
            Action::Keep,
        ]
        .into_iter()
        .map(|a| (a, self.steps.iter().filter(|s| s.action == a).count()))
        .filter(|(_, n)| *n > 0)
        .collect()
    }
}

/// Computes the plan. `fingerprint` gives a desired artifact's fingerprint (it depends on the
/// deployment's base URL, which the plan does not know).
pub fn plan<'a>(
    desired: Desired<'a>,
    ledger: &'a [LedgerEntry],
    observed: Option<&Observations>,
    fingerprint: impl Fn(&Artifact) -> String,
) -> Plan<'a> {
    let artifacts = desired.artifacts();
    let mut by_key: HashMap<&str, &'a LedgerEntry> = HashMap::with_capacity(ledger.len());
    for entry in ledger {
        // Two entries of one key (a sequence changed by hand): the newest decides.
        match by_key.get(entry.key.as_str()) {
            Some(seen) if seen.updated_at > entry.updated_at => {}
            _ => {
                by_key.insert(entry.key.as_str(), entry);
            }
        }
    }
    let keys: Vec<String> = artifacts.iter().map(Artifact::key).collect();
    let wanted: HashSet<&str> = keys.iter().map(String::as_str).collect();
    let mut next_seq = ledger.iter().map(|e| e.seq + 1).max().unwrap_or(0);
    let look = |key: &str| observed.map(|o| o.get(key));

    let mut removals: Vec<Step<'a>> = Vec::new();
    for entry in ledger {
        if wanted.contains(entry.key.as_str()) || !std::ptr::eq(by_key[entry.key.as_str()], entry) {
            continue;
        }
        let action = match (entry.state, look(&entry.key)) {
            (EntryState::Removed, Some(Some(Observed::Present { .. }))) => Action::Remove,
            (EntryState::Removed, _) => Action::Keep,
            (_, Some(Some(Observed::Absent))) => Action::Forget,
            _ => Action::Remove,
        };
        removals.push(Step {
            action,
            key: entry.key.clone(),
            seq: entry.seq,
            artifact: None,
            entry: Some(entry),
            adopt_id: None,
        });
    }
    removals.sort_by(|a, b| b.seq.cmp(&a.seq).then_with(|| a.key.cmp(&b.key)));

    let mut steps = removals;
    steps.reserve(artifacts.len());
    for (artifact, key) in artifacts.iter().zip(keys) {
        let entry = by_key.get(key.as_str()).copied();
        let recorded = entry.filter(|e| e.state == EntryState::Created);
        let same = recorded
            .and_then(|e| e.fingerprint.as_deref())
            .is_some_and(|f| f == fingerprint(artifact));
        let mut adopt_id = None;
        let action = match look(&key) {
            Some(Some(Observed::Absent)) => Action::Create,
            Some(Some(Observed::Present {
                as_declared: false, ..
            })) => Action::Update,
            Some(Some(Observed::Present {
                id,
                as_declared: true,
            })) => {
                if same {
                    Action::Keep
                } else {
                    adopt_id = Some(id.clone());
                    Action::Adopt
                }
            }
            // Not read (or a read that found nothing to say): the ledger is trusted.
            _ => match (recorded, same) {
                (Some(_), true) => Action::Keep,
                (Some(_), false) => Action::Update,
                (None, _) => Action::Create,
            },
        };
        // A removed artifact declared again keeps its sequence: what depends on it was created
        // after it either way, and one key never has two records.
        let seq = match entry {
            Some(e) => e.seq,
            None => {
                next_seq += 1;
                next_seq - 1
            }
        };
        steps.push(Step {
            action,
            key,
            seq,
            artifact: Some(artifact),
            entry,
            adopt_id,
        });
    }
    Plan { steps }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Manifest;

    fn fp(a: &Artifact) -> String {
        a.fingerprint("https://app.example")
    }

    fn entry(
        a: &Artifact,
        seq: u32,
        state: EntryState,
        fingerprint: Option<String>,
    ) -> LedgerEntry {
        LedgerEntry {
            seq,
            key: a.key(),
            kind: a.kind().into(),
            description: String::new(),
            shown_as: String::new(),
            state,
            superoffice_id: Some(format!("{}", 100 + seq)),
            fingerprint,
            updated_at: 1,
        }
    }

    fn installed(artifacts: &[Artifact]) -> Vec<LedgerEntry> {
        artifacts
            .iter()
            .enumerate()
            .map(|(i, a)| entry(a, i as u32, EntryState::Created, Some(fp(a))))
            .collect()
    }

    fn actions(p: &Plan<'_>) -> Vec<(Action, String)> {
        p.steps.iter().map(|s| (s.action, s.key.clone())).collect()
    }

    #[test]
    fn a_fresh_install_creates_everything_in_manifest_order() {
        let artifacts = Manifest::demo().artifacts();
        let p = plan(Desired::Manifest(&artifacts), &[], None, fp);
        assert_eq!(p.steps.len(), artifacts.len());
        for (i, (s, a)) in p.steps.iter().zip(&artifacts).enumerate() {
            assert_eq!((s.action, s.seq), (Action::Create, i as u32));
            assert_eq!(s.key, a.key());
        }
    }

    #[test]
    fn an_installed_tenant_with_the_same_manifest_needs_nothing() {
        let artifacts = Manifest::demo().artifacts();
        let ledger = installed(&artifacts);
        let p = plan(Desired::Manifest(&artifacts), &ledger, None, fp);
        assert!(p.is_empty(), "{:?}", actions(&p));
        assert_eq!(p.counts(), vec![(Action::Keep, artifacts.len())]);
    }

    #[test]
    fn intents_and_entries_without_fingerprints_are_finished_or_updated() {
        let artifacts = Manifest::demo().artifacts();
        let mut ledger = installed(&artifacts);
        ledger[0].state = EntryState::Intent;
        ledger[1].fingerprint = None;
        let p = plan(Desired::Manifest(&artifacts), &ledger, None, fp);
        let changes: Vec<_> = p.changes().map(|s| (s.action, s.seq)).collect();
        assert_eq!(changes, vec![(Action::Create, 0), (Action::Update, 1)]);
    }

    #[test]
    fn an_upgrade_adds_updates_and_removes_keeping_sequences_stable() {
        let v1 = Manifest::demo();
        let old = v1.artifacts();
        let ledger = installed(&old);
        let mut v2 = v1.clone();
        v2.web_panels[0].path = "/panels/contact-v2?ctx=<uctx>&user=<usid>".into();
        let dropped = v2.preferences.remove(0);
        let mut added = v2.user_defined_fields[0].clone();
        added.prog_id = "DemoPartnerApp.Segment".into();
        v2.user_defined_fields.insert(0, added);
        let new = v2.artifacts();
        let p = plan(Desired::Manifest(&new), &ledger, None, fp);
        let changes: Vec<_> = p
            .changes()
            .map(|s| (s.action, s.key.clone(), s.seq))
            .collect();
        let dropped_key = Artifact::Preference(dropped).key();
        let dropped_seq = ledger.iter().find(|e| e.key == dropped_key).unwrap().seq;
        assert_eq!(
            changes,
            vec![
                (Action::Remove, dropped_key, dropped_seq),
                (
                    Action::Create,
                    "user_defined_field:Contact:DemoPartnerApp.Segment".into(),
                    old.len() as u32
                ),
                (
                    Action::Update,
                    "web_panel:DemoPartnerApp.ContactPanel".into(),
                    ledger
                        .iter()
                        .find(|e| e.key == "web_panel:DemoPartnerApp.ContactPanel")
                        .unwrap()
                        .seq
                ),
            ]
        );
        // Every artifact kept its sequence; the new one got a fresh one.
        for s in p.steps.iter().filter(|s| s.action == Action::Keep) {
            assert_eq!(s.seq, s.entry.unwrap().seq);
        }
    }

    #[test]
    fn a_changed_base_url_updates_only_the_kinds_that_carry_a_url() {
        let artifacts = Manifest::demo().artifacts();
        let ledger = installed(&artifacts);
        let p = plan(Desired::Manifest(&artifacts), &ledger, None, |a| {
            a.fingerprint("https://new.example")
        });
        let updated: Vec<&str> = p.changes().map(|s| s.artifact.unwrap().kind()).collect();
        assert_eq!(updated, vec!["web_panel", "button", "webhook"]);
        assert!(p.changes().all(|s| s.action == Action::Update));
    }

    #[test]
    fn an_uninstall_removes_everything_newest_first() {
        let artifacts = Manifest::demo().artifacts();
        let mut ledger = installed(&artifacts);
        ledger[3].state = EntryState::Intent;
        let p = plan(Desired::Nothing, &ledger, None, fp);
        let seqs: Vec<u32> = p.steps.iter().map(|s| s.seq).collect();
        let mut expected: Vec<u32> = (0..artifacts.len() as u32).collect();
        expected.reverse();
        assert_eq!(seqs, expected);
        assert!(p.steps.iter().all(|s| s.action == Action::Remove));
    }

    #[test]
    fn a_repair_recreates_what_a_restore_took_away_and_removes_what_it_brought_back() {
        let artifacts = Manifest::demo().artifacts();
        let mut ledger = installed(&artifacts);
        // A preference dropped by an earlier upgrade, kept as removed.
        let mut old_pref = ledger.last().unwrap().clone();
        old_pref.key = "preference:DemoPartnerApp/Legacy".into();
        old_pref.kind = "preference".into();
        old_pref.seq = 40;
        old_pref.state = EntryState::Removed;
        ledger.push(old_pref);
        let mut observed = Observations::new();
        for (i, a) in artifacts.iter().enumerate() {
            let o = match i {
                0 => Observed::Absent,
                1 => Observed::Present {
                    id: "1".into(),
                    as_declared: false,
                },
                _ => Observed::Present {
                    id: format!("{}", 100 + i),
                    as_declared: true,
                },
            };
            observed.insert(a.key(), o);
        }
        observed.insert(
            "preference:DemoPartnerApp/Legacy".into(),
            Observed::Present {
                id: "x".into(),
                as_declared: true,
            },
        );
        let p = plan(Desired::Manifest(&artifacts), &ledger, Some(&observed), fp);
        let changes: Vec<_> = p.changes().map(|s| (s.action, s.key.clone())).collect();
        assert_eq!(
            changes,
            vec![
                (Action::Remove, "preference:DemoPartnerApp/Legacy".into()),
                (Action::Create, artifacts[0].key()),
                (Action::Update, artifacts[1].key()),
            ]
        );
    }

    #[test]
    fn a_repair_forgets_what_is_gone_and_adopts_what_is_there_unrecorded() {
        let artifacts = Manifest::demo().artifacts();
        let mut ledger = installed(&artifacts);
        ledger[0].state = EntryState::Intent;
        let mut stale = ledger[1].clone();
        stale.key = "web_panel:DemoPartnerApp.Old".into();
        stale.seq = 30;
        ledger.push(stale);
        let mut observed: Observations = artifacts
            .iter()
            .map(|a| {
                (
                    a.key(),
                    Observed::Present {
                        id: "7".into(),
                        as_declared: true,
                    },
                )
            })
            .collect();
        observed.insert("web_panel:DemoPartnerApp.Old".into(), Observed::Absent);
        let p = plan(Desired::Manifest(&artifacts), &ledger, Some(&observed), fp);
        let changes: Vec<_> = p
            .changes()
            .map(|s| (s.action, s.key.clone(), s.adopt_id.clone()))
            .collect();
        assert_eq!(
            changes,
            vec![
                (Action::Forget, "web_panel:DemoPartnerApp.Old".into(), None),
                (Action::Adopt, artifacts[0].key(), Some("7".into())),
            ]
        );
    }

    #[test]
    fn removed_records_stay_quiet_unless_the_artifact_is_back() {
        let artifacts = Manifest::demo().artifacts();
        let mut ledger = installed(&artifacts);
        for e in &mut ledger {
            e.state = EntryState::Removed;
        }
        let p = plan(Desired::Nothing, &ledger, None, fp);
        assert!(p.is_empty());
        let absent: Observations = artifacts
            .iter()
            .map(|a| (a.key(), Observed::Absent))
            .collect();
        assert!(plan(Desired::Nothing, &ledger, Some(&absent), fp).is_empty());
    }

    #[test]
    fn a_duplicated_key_is_decided_by_its_newest_entry() {
        let artifacts = Manifest::demo().artifacts();
        let mut ledger = installed(&artifacts);
        let mut older = ledger[2].clone();
        older.seq = 90;
        older.updated_at = 0;
        older.state = EntryState::Intent;
        ledger.push(older);
        let p = plan(Desired::Manifest(&artifacts), &ledger, None, fp);
        assert!(p.is_empty(), "{:?}", actions(&p));
        assert_eq!(p.steps.len(), artifacts.len());
    }
}
