//! Tracing's read models over the same facts the writes use: the investigation page, the
//! tracer's work list, the chains network and the KPIs.

use super::facts::{CandidateQuery, CaseQuery, ContactQuery, Facts, Keys};
use super::{CaseDetail, ChainFilter, ChainNode, Chains, WorkLine};
use crate::containment::View;
use cordon_domain::tracing::kpi::{CaseTimes, TracingKpis, kpis as kpi_of};
use cordon_domain::tracing::{CandidateState, ContactStatus, chains as chain_rules, window_from};
use std::collections::HashMap;

pub fn detail_keys(case_id: i64) -> Keys {
    Keys {
        cases: Some(CaseQuery::Ids(vec![case_id])),
        history: true,
        candidates: Some(CandidateQuery::OfCases(vec![case_id])),
        contacts: Some(ContactQuery::OfCases(vec![case_id])),
        places_of: vec![case_id],
        tasks_of: vec![case_id],
        links: true,
        ..Keys::default()
    }
}

pub fn detail(case_id: i64, f: Facts, view: &View) -> Option<CaseDetail> {
    let case = f.case(case_id)?.clone();
    let mut downstream: Vec<i64> = f.links.iter().filter(|(_, s)| **s == case_id).map(|(c, _)| *c).collect();
    downstream.sort_unstable();
    let window_from = window_from(case.anchor(view.offset()), &view.profile, view.offset());
    let mut places = f.places;
    places.sort_by_key(|p| (p.from, p.id));
    Some(CaseDetail {
        case,
        history: f.history.into_iter().filter(|h| h.case_id == case_id).collect(),
        places,
        candidates: f.candidates,
        contacts: f.contacts,
        tasks: f.tasks,
        downstream,
        window_from,
    })
}

pub fn work_keys(roots: &[cordon_domain::area::AreaCode], limit: u32) -> Keys {
    Keys {
        cases: Some(CaseQuery::Under {
            roots: roots.to_vec(),
            open_only: true,
            since: None,
            until: None,
            cluster_id: None,
            limit,
        }),
        open_tasks: true,
        ..Keys::default()
    }
}

/// Cases with their open tasks, the earliest due first (cases with nothing due last,
/// newest first).
pub fn work_list(f: Facts, view: &View) -> Vec<WorkLine> {
    let mut lines: Vec<WorkLine> = f
        .cases
        .iter()
        .map(|c| {
            let mut tasks: Vec<_> =
                f.tasks.iter().filter(|t| t.case_id == c.id && t.done_at.is_none()).cloned().collect();
            tasks.sort_by_key(|t| (t.due_at, t.id));
            let due = tasks.first().map(|t| t.due_at);
            WorkLine {
                case: c.clone(),
                candidates_waiting: 0,
                contacts: 0,
                overdue: due.is_some_and(|d| d < view.at),
                due,
                tasks,
            }
        })
        .collect();
    lines.sort_by(|a, b| match (a.due, b.due) {
        (Some(x), Some(y)) => x.cmp(&y).then(a.case.id.cmp(&b.case.id)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => b.case.id.cmp(&a.case.id),
    });
    lines
}

/// Candidates waiting and contacts of the work list's cases (a second read).
pub fn work_counts(lines: &mut [WorkLine], f: &Facts) {
    for l in lines {
        l.candidates_waiting =
            f.candidates.iter().filter(|c| c.case_id == l.case.id && c.state == CandidateState::Proposed).count()
                as u32;
        l.contacts = f.contacts.iter().filter(|c| c.case_id == l.case.id).count() as u32;
    }
}

pub fn chain_keys(filter: &ChainFilter) -> Keys {
    Keys {
        cases: Some(CaseQuery::Under {
            roots: filter.roots.clone(),
            open_only: false,
            since: filter.since,
            until: filter.until,
            cluster_id: filter.cluster_id,
            limit: filter.limit,
        }),
        links: true,
        clusters: true,
        ..Keys::default()
    }
}

/// The network of the cases fetched and their contacts (`f.contacts` from a second read).
pub fn chains(f: Facts, _filter: &ChainFilter) -> Chains {
    let ids: Vec<i64> = f.cases.iter().map(|c| c.id).collect();
    let generation = chain_rules::generations(&ids, &f.links);
    let present: std::collections::HashSet<i64> = ids.iter().copied().collect();
    let mut nodes = Vec::with_capacity(f.cases.len() + f.contacts.len());
    let mut edges = Vec::new();
    for c in &f.cases {
        nodes.push(ChainNode {
            key: format!("c{}", c.id),
            case_id: Some(c.id),
            contact_id: None,
            label: c.name.masked(),
            generation: generation.get(&c.id).copied().unwrap_or(1),
            class: None,
            cluster_id: c.cluster_id,
            street: c.unit.lineage().into_iter().find(|a| a.level() == cordon_domain::area::AreaLevel::Street),
            at: c.at,
        });
        if let Some(s) = c.source_case
            && present.contains(&s)
        {
            edges.push((format!("c{s}"), format!("c{}", c.id)));
        }
    }
    // A contact who became a case is that case's node already.
    let case_people: HashMap<i64, i64> = f.cases.iter().map(|c| (c.resident_id, c.id)).collect();
    for k in &f.contacts {
        let Some(g) = generation.get(&k.case_id) else { continue };
        if let Some(rid) = k.resident_id
            && let Some(cid) = case_people.get(&rid)
        {
            if f.cases.iter().find(|c| c.id == *cid).is_some_and(|c| c.source_case.is_none()) {
                edges.push((format!("c{}", k.case_id), format!("c{cid}")));
            }
            continue;
        }
        nodes.push(ChainNode {
            key: format!("k{}", k.id),
            case_id: None,
            contact_id: Some(k.id),
            label: k.name.masked(),
            generation: g + 1,
            class: Some(k.class),
            cluster_id: None,
            street: k
                .unit
                .as_ref()
                .and_then(|u| u.lineage().into_iter().find(|a| a.level() == cordon_domain::area::AreaLevel::Street)),
            at: k.identified_at,
        });
        edges.push((format!("c{}", k.case_id), format!("k{}", k.id)));
    }
    Chains { nodes, edges, clusters: f.clusters }
}

pub fn kpi_keys(roots: &[cordon_domain::area::AreaCode]) -> Keys {
    Keys {
        cases: Some(CaseQuery::Under {
            roots: roots.to_vec(),
            open_only: false,
            since: None,
            until: None,
            cluster_id: None,
            limit: 100_000,
        }),
        ..Keys::default()
    }
}

/// The KPIs of the cases fetched, with their contacts (from a second read).
pub fn kpis(f: &Facts) -> TracingKpis {
    let times: Vec<CaseTimes> = f
        .cases
        .iter()
        .map(|c| {
            let mine: Vec<_> = f.contacts.iter().filter(|k| k.case_id == c.id).collect();
            let all_notified = !mine.is_empty()
                && mine.iter().all(|k| k.notified_at.is_some() || k.status != ContactStatus::Identified);
            CaseTimes {
                positive_at: c.source_tube.map(|_| c.at),
                created_at: c.at,
                investigation_at: c.investigation_at,
                core_done_at: c.core_done_at,
                contacts_listed_at: mine.iter().map(|k| k.identified_at).min(),
                contacts_notified_at: if all_notified {
                    mine.iter().map(|k| k.notified_at.unwrap_or(k.status_at)).max()
                } else {
                    None
                },
                contacts: mine.len() as u32,
                known_before: c.known_before,
                source_known: c.source_case.is_some(),
            }
        })
        .collect();
    kpi_of(&times)
}
