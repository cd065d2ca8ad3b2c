//! The synthetic district: a reproducible population register for demos, tests and
//! benchmarks. Same parameters and seed → the same district, byte for byte.
//!
//! Shape (at the default 430,000): streets/towns of about a dozen communities, a
//! community of ~7,200 residents, compounds of 6–30 buildings, 2–6 units, 6–33 floors,
//! two to four flats a floor of which most are occupied; households of 1–6 people
//! following the 2020 census shares; ages from a census-like pyramid with 2–4% aged 80+;
//! names drawn with realistic surname frequencies; valid ID numbers from region 141102
//! and its neighbours. Grids of about 300 households; one leader per building.
//!
//! The generator streams one [`Batch`] per community, so a caller can load 25 million
//! residents without holding them all.

use crate::area::{Area, AreaCode};
use crate::id_number::IdNumber;
use crate::name::PersonName;
use crate::phone::Phone;
use crate::registry::{BuildingLeader, Grid, Household, Resident, ResidentFlags, ResidentStatus};
use chrono::{Days, NaiveDate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashSet;

pub const DISTRICT_CODE: &str = "141102";
pub const DISTRICT_NAME: &str = "离石区";
const RESIDENTS_PER_COMMUNITY: u64 = 7_200;
const COMMUNITIES_PER_STREET: u64 = 12;
const HOUSEHOLDS_PER_GRID: usize = 300;

#[derive(Debug, Clone)]
pub struct GenParams {
    pub population: u64,
    pub seed: u64,
    /// The day ages are computed against; fixed so that data does not depend on the clock.
    pub as_of: NaiveDate,
}

impl GenParams {
    pub fn new(population: u64, seed: u64) -> GenParams {
        GenParams { population, seed, as_of: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default() }
    }
}

/// One community's worth of register (the first batch also carries the district and
/// streets).
#[derive(Debug, Clone, Default)]
pub struct Batch {
    pub areas: Vec<Area>,
    pub households: Vec<Household>,
    pub residents: Vec<Resident>,
    pub grids: Vec<Grid>,
    pub leaders: Vec<BuildingLeader>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub areas: u64,
    pub households: u64,
    pub residents: u64,
    pub grids: u64,
}

const STREET_NAMES: &[&str] = &[
    "滨河街道",
    "凤山街道",
    "城北街道",
    "西属巴街道",
    "莲花池街道",
    "交口街道",
    "田家会街道",
    "信义镇",
    "红眼川乡",
    "坪头乡",
    "吴城镇",
];
const COMMUNITY_STEMS: &[&str] = &[
    "龙凤",
    "永宁",
    "贺昌",
    "北川",
    "东关",
    "西关",
    "南关",
    "乔家沟",
    "马茂庄",
    "世纪",
    "胜利",
    "新华",
    "朝阳",
    "安国寺",
    "薛公岭",
    "后瓦窑坡",
    "石盘",
    "莲花",
    "红旗",
    "和平",
    "光明",
    "向阳",
    "鑫飞",
    "万和",
    "凤翔",
    "吕梁",
    "文峰",
    "宏图",
    "阳光",
    "长治",
];
const COMPOUND_STEMS: &[&str] = &[
    "滨河", "凤山", "御景", "锦绣", "金港", "翠苑", "阳光", "泰和", "东方", "福瑞", "康乐", "盛世", "华府", "丽景",
    "银河", "兴盛", "幸福", "祥和", "颐和", "碧水", "紫荆", "世纪",
];
const COMPOUND_SUFFIXES: &[&str] = &["小区", "花园", "家园", "苑", "公寓", "新村", "佳园", "华庭"];

/// Surnames with relative frequencies (per 10,000), northern-China weighted.
const SURNAMES: &[(&str, u32)] = &[
    ("王", 790),
    ("李", 760),
    ("张", 700),
    ("刘", 560),
    ("郭", 300),
    ("陈", 300),
    ("杨", 300),
    ("赵", 260),
    ("高", 220),
    ("武", 200),
    ("贾", 160),
    ("任", 150),
    ("薛", 120),
    ("马", 140),
    ("孙", 140),
    ("吴", 130),
    ("周", 130),
    ("胡", 120),
    ("朱", 120),
    ("郝", 110),
    ("冯", 110),
    ("白", 110),
    ("韩", 110),
    ("田", 100),
    ("梁", 100),
    ("宋", 100),
    ("曹", 90),
    ("秦", 90),
    ("程", 80),
    ("段", 80),
    ("许", 80),
    ("徐", 80),
    ("何", 80),
    ("林", 60),
    ("罗", 60),
    ("郑", 60),
    ("谢", 50),
    ("于", 60),
    ("董", 70),
    ("萧", 30),
    ("冀", 40),
    ("乔", 60),
    ("温", 50),
    ("贺", 60),
    ("霍", 50),
    ("崔", 50),
    ("牛", 50),
    ("苏", 50),
    ("魏", 50),
    ("吕", 60),
    ("闫", 60),
    ("雷", 40),
    ("侯", 50),
    ("康", 40),
    ("申", 30),
    ("卫", 30),
    ("常", 40),
    ("柴", 30),
    ("景", 20),
    ("欧阳", 3),
    ("司马", 2),
    ("上官", 1),
];
const MALE_CHARS: &[&str] = &[
    "伟", "强", "磊", "军", "勇", "杰", "涛", "斌", "超", "明", "刚", "平", "辉", "鹏", "华", "飞", "鑫", "波", "宇",
    "浩", "凯", "健", "俊", "帆", "帅", "旭", "宁", "龙", "林", "峰", "建", "国", "志", "文", "海", "东", "亮", "晨",
    "博", "子", "轩", "睿", "泽", "宏", "振",
];
const FEMALE_CHARS: &[&str] = &[
    "芳", "娜", "敏", "静", "丽", "艳", "娟", "霞", "秀", "玲", "桂", "英", "燕", "红", "梅", "琳", "雪", "慧", "婷",
    "欣", "璐", "倩", "颖", "佳", "怡", "萱", "涵", "悦", "晶", "玉", "兰", "凤", "春", "莉", "洁", "雅", "晓", "丹",
    "萍", "荣",
];
/// Region codes of residents' ID numbers: Lishi itself and the rest of Lüliang.
const REGIONS: &[(u32, u32)] = &[
    (141102, 8000),
    (141121, 200),
    (141122, 200),
    (141123, 250),
    (141124, 300),
    (141125, 300),
    (141126, 150),
    (141127, 150),
    (141128, 150),
    (141129, 150),
    (141130, 100),
    (141181, 100),
    (141182, 100),
];
/// Age pyramid in five-year bands 0–4 … 95–99 (per mille), 2020-census-like.
const AGE_BANDS: &[u32] = &[55, 60, 60, 55, 50, 60, 75, 85, 75, 70, 80, 80, 70, 60, 45, 30, 18, 8, 3, 1];
/// Household size shares (per mille) for sizes 1..=6.
const HOUSEHOLD_SIZES: &[u32] = &[250, 300, 210, 130, 70, 40];
const MOBILE_PREFIXES: &[&str] = &[
    "130", "131", "132", "134", "135", "136", "137", "138", "139", "150", "151", "152", "155", "156", "157", "158",
    "159", "166", "176", "177", "180", "181", "182", "183", "185", "186", "187", "188", "189", "191", "198", "199",
];

fn weighted<'a, T>(rng: &mut ChaCha8Rng, items: &'a [(T, u32)]) -> &'a T {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut x = rng.random_range(0..total.max(1));
    for (item, w) in items {
        if x < *w {
            return item;
        }
        x -= w;
    }
    &items[items.len() - 1].0
}

fn weighted_index(rng: &mut ChaCha8Rng, weights: &[u32]) -> usize {
    let total: u32 = weights.iter().sum();
    let mut x = rng.random_range(0..total.max(1));
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    weights.len() - 1
}

fn pick<'a>(rng: &mut ChaCha8Rng, items: &'a [&'a str]) -> &'a str {
    items[rng.random_range(0..items.len())]
}

struct Gen {
    rng: ChaCha8Rng,
    as_of: NaiveDate,
    ids: HashSet<u64>,
    next_household: i64,
    next_resident: i64,
    next_grid: i64,
}

impl Gen {
    fn person_name(&mut self, male: bool) -> PersonName {
        let surname = *weighted(&mut self.rng, SURNAMES);
        self.name_with_surname(male, surname)
    }

    fn name_with_surname(&mut self, male: bool, surname: &str) -> PersonName {
        let chars = if male { MALE_CHARS } else { FEMALE_CHARS };
        let mut name = surname.to_string();
        name.push_str(pick(&mut self.rng, chars));
        if self.rng.random_bool(0.7) {
            name.push_str(pick(&mut self.rng, chars));
        }
        PersonName::parse(&name).unwrap_or_else(|_| fallback_name())
    }

    fn age(&mut self, adult: bool) -> u32 {
        loop {
            let band = weighted_index(&mut self.rng, AGE_BANDS) as u32;
            let age = band * 5 + self.rng.random_range(0..5);
            if !adult || age >= 20 {
                return age;
            }
        }
    }

    fn id_number(&mut self, age: u32, male: bool) -> IdNumber {
        let region = *weighted(&mut self.rng, REGIONS);
        let days_back = u64::from(age) * 365 + self.rng.random_range(0..365);
        let birth = self.as_of.checked_sub_days(Days::new(days_back)).unwrap_or(self.as_of);
        let mut seq = self.rng.random_range(0..500u32) * 2 + u32::from(male);
        loop {
            let id = IdNumber::from_parts(region, birth, seq);
            if let Some(id) = id {
                let key: u64 = id.as_str()[..17].parse().unwrap_or(0);
                if self.ids.insert(key) {
                    return id;
                }
            }
            // Taken (or impossible): next sequence of the same sex, wrapping around.
            seq = (seq + 2) % 1000;
        }
    }

    fn phone(&mut self) -> Option<Phone> {
        let prefix = pick(&mut self.rng, MOBILE_PREFIXES);
        let rest: u32 = self.rng.random_range(0..100_000_000);
        Phone::parse(&format!("{prefix}{rest:08}")).ok()
    }

    /// A member of `household`. The head (first member, an adult) carries the family
    /// surname; most other members share it (children, parents), spouses usually keep their own.
    fn resident(&mut self, household: &Household, head: bool, family: &str) -> Resident {
        let adult = head;
        let male = self.rng.random_bool(0.51);
        let age = self.age(adult);
        let id_number = self.id_number(age, male);
        let elderly = age >= 80;
        let phone = if age < 12 || (elderly && self.rng.random_bool(0.3)) { None } else { self.phone() };
        let flags = ResidentFlags {
            bedridden: (elderly && self.rng.random_bool(0.1)) || (age >= 60 && self.rng.random_bool(0.002)),
            no_smartphone: (elderly && self.rng.random_bool(0.6)) || (age >= 60 && self.rng.random_bool(0.15)),
            temporary: self.rng.random_bool(0.03),
        };
        let id = self.next_resident;
        self.next_resident += 1;
        Resident {
            id,
            household_id: household.id,
            unit: household.unit.clone(),
            room: household.room.clone(),
            name: if head || self.rng.random_bool(0.6) {
                self.name_with_surname(male, family)
            } else {
                self.person_name(male)
            },
            id_number,
            phone,
            flags,
            status: ResidentStatus::Active,
        }
    }
}

fn fallback_name() -> PersonName {
    PersonName::parse("王伟").unwrap_or_else(|_| unreachable_name())
}

#[allow(clippy::panic)]
fn unreachable_name() -> PersonName {
    // "王伟" is a valid name; parse cannot fail on it.
    panic!("constant name failed to parse")
}

fn code(parent: &AreaCode, n: u32) -> AreaCode {
    parent.child(n).unwrap_or_else(|| parent.clone())
}

/// Generates the district, handing one batch per community to `sink`.
pub fn generate<E>(params: &GenParams, mut sink: impl FnMut(Batch) -> Result<(), E>) -> Result<Summary, E> {
    let mut g = Gen {
        rng: ChaCha8Rng::seed_from_u64(params.seed),
        as_of: params.as_of,
        ids: HashSet::with_capacity(params.population as usize),
        next_household: 1,
        next_resident: 1,
        next_grid: 1,
    };
    let population = params.population;
    // Small districts still get two streets and a few communities so that scoping shows.
    let communities = (population.div_ceil(RESIDENTS_PER_COMMUNITY)).max((population / 50).min(4)).max(1);
    let streets = communities.div_ceil(COMMUNITIES_PER_STREET).max(communities.min(2));
    let Ok(district) = AreaCode::parse(DISTRICT_CODE) else {
        return Ok(Summary::default());
    };
    let mut summary = Summary::default();
    let mut first = Batch::default();
    first.areas.push(Area { code: district.clone(), name: DISTRICT_NAME.to_string() });
    let mut street_codes = Vec::new();
    for s in 0..streets {
        let c = code(&district, s as u32 + 1);
        let name = match STREET_NAMES.get(s as usize) {
            Some(n) => n.to_string(),
            None => format!("第{}街道", s + 1),
        };
        first.areas.push(Area { code: c.clone(), name });
        street_codes.push((c, 0u32));
    }
    let mut pending = Some(first);
    let mut used_community_names = HashSet::new();
    for k in 0..communities {
        let target = population / communities + u64::from(k < population % communities);
        let street = (k % streets) as usize;
        street_codes[street].1 += 1;
        let community = code(&street_codes[street].0, street_codes[street].1);
        let mut batch = pending.take().unwrap_or_default();
        let stem = pick(&mut g.rng, COMMUNITY_STEMS);
        let mut cname = format!("{stem}社区");
        if !used_community_names.insert(cname.clone()) {
            cname = format!("{stem}{}社区", k + 1);
        }
        batch.areas.push(Area { code: community.clone(), name: cname });
        let mut people = 0u64;
        let mut compound_no = 0;
        let mut grid_buildings: Vec<AreaCode> = Vec::new();
        let mut grid_households = 0usize;
        let mut compound_names = HashSet::new();
        while people < target {
            compound_no += 1;
            let compound = code(&community, compound_no);
            let mut cname = format!("{}{}", pick(&mut g.rng, COMPOUND_STEMS), pick(&mut g.rng, COMPOUND_SUFFIXES));
            if !compound_names.insert(cname.clone()) {
                cname = format!("{cname}{compound_no}期");
            }
            batch.areas.push(Area { code: compound.clone(), name: cname });
            let buildings = g.rng.random_range(6..=30u32);
            for b in 1..=buildings {
                if people >= target {
                    break;
                }
                let building = code(&compound, b);
                batch.areas.push(Area { code: building.clone(), name: format!("{b}号楼") });
                let units = g.rng.random_range(2..=6u32);
                let floors = g.rng.random_range(6..=33u32);
                let flats = g.rng.random_range(2..=4u32);
                let mut building_households = 0usize;
                let mut leader: Option<i64> = None;
                for u in 1..=units {
                    if people >= target {
                        break;
                    }
                    let unit = code(&building, u);
                    batch.areas.push(Area { code: unit.clone(), name: format!("{u}单元") });
                    for floor in 1..=floors {
                        for flat in 1..=flats {
                            if people >= target {
                                break;
                            }
                            if !g.rng.random_bool(0.85) {
                                continue;
                            }
                            let household = Household {
                                id: g.next_household,
                                unit: unit.clone(),
                                room: format!("{floor}{flat:02}"),
                            };
                            g.next_household += 1;
                            let size = (weighted_index(&mut g.rng, HOUSEHOLD_SIZES) as u64 + 1).min(target - people);
                            let family = *weighted(&mut g.rng, SURNAMES);
                            for m in 0..size {
                                let r = g.resident(&household, m == 0, family);
                                if leader.is_none() && r.phone.is_some() && r.age(g.as_of) >= 25 && r.age(g.as_of) < 70
                                {
                                    leader = Some(r.id);
                                }
                                batch.residents.push(r);
                            }
                            people += size;
                            building_households += 1;
                            batch.households.push(household);
                        }
                    }
                }
                if let Some(resident_id) = leader.or_else(|| batch.residents.last().map(|r| r.id)) {
                    batch.leaders.push(BuildingLeader { building: building.clone(), resident_id });
                }
                grid_buildings.push(building);
                grid_households += building_households;
                if grid_households >= HOUSEHOLDS_PER_GRID {
                    push_grid(&mut g, &mut batch, &community, &mut grid_buildings);
                    grid_households = 0;
                }
            }
        }
        if !grid_buildings.is_empty() {
            push_grid(&mut g, &mut batch, &community, &mut grid_buildings);
        }
        summary.areas += batch.areas.len() as u64;
        summary.households += batch.households.len() as u64;
        summary.residents += batch.residents.len() as u64;
        summary.grids += batch.grids.len() as u64;
        sink(batch)?;
    }
    if let Some(first) = pending.take() {
        summary.areas += first.areas.len() as u64;
        sink(first)?;
    }
    Ok(summary)
}

fn push_grid(g: &mut Gen, batch: &mut Batch, community: &AreaCode, buildings: &mut Vec<AreaCode>) {
    let male = g.rng.random_bool(0.4);
    let worker_name = g.person_name(male).as_str().to_string();
    let worker_phone = g.phone();
    let n = batch.grids.iter().filter(|gr| &gr.community == community).count() + 1;
    batch.grids.push(Grid {
        id: g.next_grid,
        community: community.clone(),
        name: format!("第{n}网格"),
        buildings: std::mem::take(buildings),
        worker_name,
        worker_phone,
    });
    g.next_grid += 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(pop: u64, seed: u64) -> (Vec<Batch>, Summary) {
        let mut batches = Vec::new();
        let s = generate::<()>(&GenParams::new(pop, seed), |b| {
            batches.push(b);
            Ok(())
        })
        .unwrap();
        (batches, s)
    }

    #[test]
    fn exact_population_and_reproducible() {
        let (a, sa) = collect(3_000, 7);
        let (b, sb) = collect(3_000, 7);
        assert_eq!(sa, sb);
        assert_eq!(sa.residents, 3_000);
        let ra: Vec<_> = a.iter().flat_map(|b| b.residents.iter()).collect();
        let rb: Vec<_> = b.iter().flat_map(|b| b.residents.iter()).collect();
        assert_eq!(ra, rb);
        let (c, _) = collect(3_000, 8);
        let rc: Vec<_> = c.iter().flat_map(|b| b.residents.iter()).collect();
        assert_ne!(ra, rc);
    }

    #[test]
    fn shape_is_plausible() {
        let (batches, s) = collect(20_000, 1);
        let residents: Vec<_> = batches.iter().flat_map(|b| b.residents.iter()).collect();
        let ids: HashSet<_> = residents.iter().map(|r| r.id_number.clone()).collect();
        assert_eq!(ids.len(), residents.len(), "ID numbers are unique");
        let as_of = GenParams::new(1, 1).as_of;
        let elderly = residents.iter().filter(|r| r.is_elderly(as_of, 80)).count() as f64 / residents.len() as f64;
        assert!((0.015..0.05).contains(&elderly), "elderly share {elderly}");
        assert!(residents.iter().any(|r| r.flags.bedridden));
        let lishi = residents.iter().filter(|r| r.id_number.region() == "141102").count();
        assert!(lishi * 2 > residents.len());
        let areas: Vec<_> = batches.iter().flat_map(|b| b.areas.iter()).collect();
        let codes: HashSet<_> = areas.iter().map(|a| a.code.clone()).collect();
        assert_eq!(codes.len(), areas.len(), "area codes are unique");
        for r in &residents {
            assert!(codes.contains(&r.unit), "unit exists");
        }
        assert!(s.grids >= 1);
        let households = s.households as usize;
        let gridded: usize = batches.iter().flat_map(|b| b.grids.iter()).map(|g| g.buildings.len()).sum();
        let buildings = areas.iter().filter(|a| a.level() == crate::AreaLevel::Building).count();
        assert_eq!(gridded, buildings, "every building is in exactly one grid");
        let leaders: usize = batches.iter().map(|b| b.leaders.len()).sum();
        assert_eq!(leaders, buildings);
        assert!(households > 20_000 / 6 && households < 20_000);
    }

    #[test]
    fn tiny_district_has_two_streets() {
        let (batches, s) = collect(300, 3);
        assert_eq!(s.residents, 300);
        let streets =
            batches.iter().flat_map(|b| b.areas.iter()).filter(|a| a.level() == crate::AreaLevel::Street).count();
        assert_eq!(streets, 2);
    }
}
