//! The Nexmark event generator: [`Generator`] turns a [`GeneratorConfig`]
//! into [`TimedEvent`]s, one per event number.
//!
//! The distributions are those of the reference generator (Beam / Flink
//! Nexmark `GeneratorConfig`, `PersonGenerator`, `AuctionGenerator`,
//! `BidGenerator`), written anew:
//! - event number *n* is a person, an auction or a bid by `n mod 50`: 0 a
//!   person, 1–3 an auction, 4–49 a bid (the proportion 1 : 3 : 46), so the
//!   id of the latest person and auction is a function of *n*;
//! - person ids start at 1000, auction ids at 1000, categories are 10–14;
//! - an auction's seller is, 3 times in 4, the *hot seller* (the latest
//!   person id rounded down to a multiple of 100), else one of the last
//!   1000 persons (the "active" people);
//! - a bid's auction is, 1 time in 2, the *hot auction* (the latest auction
//!   id rounded down to a multiple of 100), else one of the last 100
//!   auctions (the auctions "in flight"); its bidder is, 3 times in 4, the
//!   *hot bidder* (the hot seller's id + 1), else one of the active people;
//! - prices are `round(10^(6u) × 100)` cents for a uniform *u* in [0, 1)
//!   (one dollar to one million dollars, log-uniform); an auction's reserve
//!   is its initial bid plus such a price;
//! - an auction lasts 1 ms up to twice the time that 100 auctions take to be
//!   created (the reference's "auctions in flight" horizon);
//! - half the bids come from one of four hot channels, the others from
//!   `channel-N`;
//! - event *n* happens at `base_time_ms + n × 1000 / events_per_second`.
//!
//! Two departures, both so that every id refers to an event already
//! generated: the reference lets a random person or auction id run up to 10
//! past the latest one (`PERSON_ID_LEAD`, `AUCTION_ID_LEAD`); here the pick
//! stops at the latest. The hot bidder (hot seller + 1) is the hot seller
//! itself while person hot seller + 1 does not exist yet. The reference's
//! `extra` padding field is left out.
//!
//! Every event draws from its own random stream, seeded by the run's seed
//! and its event number, so event *n* is the same whatever was generated
//! before it ([`Generator::event`]).

use std::io::Write as _;

/// Persons, auctions and bids per 50 events.
const PERSON_PROPORTION: u64 = 1;
const AUCTION_PROPORTION: u64 = 3;
const TOTAL_PROPORTION: u64 = 50;
/// The first person, auction and category ids.
const FIRST_PERSON_ID: u64 = 1000;
const FIRST_AUCTION_ID: u64 = 1000;
const FIRST_CATEGORY_ID: u64 = 10;
const NUM_CATEGORIES: u64 = 5;
/// Hot auctions and persons are ids rounded down to a multiple of these.
const HOT_AUCTION_RATIO: u64 = 100;
const HOT_SELLER_RATIO: u64 = 100;
const HOT_BIDDER_RATIO: u64 = 100;
const HOT_CHANNELS: [(&str, &str); 4] = [
    ("Google", "https://www.google.com/search"),
    ("Facebook", "https://www.facebook.com/search"),
    ("Baidu", "https://www.baidu.com/search"),
    ("Apple", "https://www.apple.com/search"),
];
const CHANNELS: u64 = 10_000;
const FIRST_NAMES: [&str; 11] = [
    "Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter",
];
const LAST_NAMES: [&str; 9] = [
    "Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris",
];
/// The states persons live in.
pub const US_STATES: [&str; 6] = ["AZ", "CA", "ID", "OR", "WA", "WY"];
/// The cities persons live in.
pub const US_CITIES: [&str; 10] = [
    "Phoenix",
    "Los Angeles",
    "San Francisco",
    "Boise",
    "Portland",
    "Bend",
    "Redmond",
    "Seattle",
    "Kent",
    "Cheyenne",
];
/// The auction categories.
pub const CATEGORIES: std::ops::Range<u64> = FIRST_CATEGORY_ID..FIRST_CATEGORY_ID + NUM_CATEGORIES;

/// How to generate: the knobs of the reference `GeneratorConfig` that this
/// generator has.
#[derive(Clone, Debug)]
pub struct GeneratorConfig {
    /// Seed of every random choice.
    pub seed: u64,
    /// Event time of event 0, ms since the epoch.
    pub base_time_ms: i64,
    /// Events per second of event time (the reference's `firstEventRate`,
    /// default 10,000: one event each 0.1 ms).
    pub events_per_second: u64,
    /// Persons a random seller or bidder is picked among (default 1000).
    pub num_active_people: u64,
    /// Auctions a random bid's auction is picked among (default 100).
    pub num_in_flight_auctions: u64,
    /// 1 in this many bids goes to a random auction, the rest to the hot one (2).
    pub hot_auction_ratio: u64,
    /// 1 in this many auctions has a random seller, the rest the hot one (4).
    pub hot_seller_ratio: u64,
    /// 1 in this many bids has a random bidder, the rest the hot one (4).
    pub hot_bidder_ratio: u64,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            // 2026-01-01 00:00:00 UTC.
            base_time_ms: 1_767_225_600_000,
            events_per_second: 10_000,
            num_active_people: 1000,
            num_in_flight_auctions: 100,
            hot_auction_ratio: 2,
            hot_seller_ratio: 4,
            hot_bidder_ratio: 4,
        }
    }
}

/// A person registers.
#[derive(Clone, Debug, PartialEq)]
pub struct Person {
    pub id: u64,
    pub name: String,
    pub email_address: String,
    pub credit_card: String,
    pub city: &'static str,
    pub state: &'static str,
    /// Event time, ms since the epoch.
    pub date_time: i64,
}

/// A person puts an item up for auction.
#[derive(Clone, Debug, PartialEq)]
pub struct Auction {
    pub id: u64,
    pub item_name: String,
    pub description: String,
    /// Cents.
    pub initial_bid: u64,
    /// Cents.
    pub reserve: u64,
    pub date_time: i64,
    /// When the auction closes, ms since the epoch.
    pub expires: i64,
    /// The person selling.
    pub seller: u64,
    pub category: u64,
}

/// A person bids on an auction.
#[derive(Clone, Debug, PartialEq)]
pub struct Bid {
    pub auction: u64,
    pub bidder: u64,
    /// Cents.
    pub price: u64,
    pub channel: String,
    pub url: String,
    pub date_time: i64,
}

/// One Nexmark event.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Person(Person),
    Auction(Auction),
    Bid(Bid),
}

impl Event {
    /// The event type as the reference's `Event.Type` numbers it (and the
    /// JSON record's `event_type`): 0 person, 1 auction, 2 bid.
    pub fn type_code(&self) -> i32 {
        match self {
            Event::Person(_) => 0,
            Event::Auction(_) => 1,
            Event::Bid(_) => 2,
        }
    }
}

/// An event and its event time (ms since the epoch): the time a Kinesis
/// stream would stamp as its arrival, so ROWTIME in the apps.
#[derive(Clone, Debug, PartialEq)]
pub struct TimedEvent {
    pub time_ms: i64,
    pub event: Event,
}

impl TimedEvent {
    /// Appends the event as one JSON object, the record the apps under
    /// `sql-examples/nexmark/` read: `{"event_type": 0|1|2, "person" |
    /// "auction" | "bid": {..}}`, field names as in the reference's classes,
    /// times in ms since the epoch.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        // Writing into a Vec cannot fail; strings hold no character that
        // JSON escapes (letters, digits, spaces and URL punctuation).
        let _ = match &self.event {
            Event::Person(p) => write!(
                out,
                r#"{{"event_type":0,"person":{{"id":{},"name":"{}","emailAddress":"{}","creditCard":"{}","city":"{}","state":"{}","dateTime":{}}}}}"#,
                p.id, p.name, p.email_address, p.credit_card, p.city, p.state, p.date_time
            ),
            Event::Auction(a) => write!(
                out,
                r#"{{"event_type":1,"auction":{{"id":{},"itemName":"{}","description":"{}","initialBid":{},"reserve":{},"dateTime":{},"expires":{},"seller":{},"category":{}}}}}"#,
                a.id,
                a.item_name,
                a.description,
                a.initial_bid,
                a.reserve,
                a.date_time,
                a.expires,
                a.seller,
                a.category
            ),
            Event::Bid(b) => write!(
                out,
                r#"{{"event_type":2,"bid":{{"auction":{},"bidder":{},"price":{},"channel":"{}","url":"{}","dateTime":{}}}}}"#,
                b.auction, b.bidder, b.price, b.channel, b.url, b.date_time
            ),
        };
    }

    /// [`Self::write_json`] into a new string.
    pub fn to_json(&self) -> String {
        let mut out = Vec::new();
        self.write_json(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// SplitMix64's output function.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// SplitMix64: a small, fast generator, good enough for workload data and
/// exactly reproducible everywhere.
struct Rng(u64);

impl Rng {
    /// The stream of event `event`: seed and event number both go through
    /// the mixer, so that neighbouring events' streams are unrelated (a
    /// plain `seed ^ event` start would make event n + 1's stream event n's
    /// shifted by one draw).
    fn new(seed: u64, event: u64) -> Self {
        Rng(mix(seed ^ mix(event.wrapping_add(0x9E37_79B9_7F4A_7C15))))
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// Uniform in `0..n` (`n` > 0; 0 when `n` is 0).
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    /// `len` lowercase letters.
    fn letters(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| (b'a' + self.below(26) as u8) as char)
            .collect()
    }

    /// The reference's price: one dollar to a million, log-uniform, in cents.
    fn price(&mut self) -> u64 {
        (10f64.powf(self.unit() * 6.0) * 100.0).round() as u64
    }
}

/// Generates Nexmark events in event-number order; an [`Iterator`] over
/// [`TimedEvent`]s that never ends (take as many as wanted).
pub struct Generator {
    config: GeneratorConfig,
    next: u64,
}

impl Generator {
    /// A generator from event 0.
    pub fn new(config: GeneratorConfig) -> Self {
        Self { config, next: 0 }
    }

    /// The configuration.
    pub fn config(&self) -> &GeneratorConfig {
        &self.config
    }

    /// Event time of event `n`, ms since the epoch.
    pub fn time_of(&self, n: u64) -> i64 {
        let rate = self.config.events_per_second.max(1);
        self.config.base_time_ms + (n as u128 * 1000 / rate as u128) as i64
    }

    /// Base-0 id of the latest person at event `n` (the person event `n` is,
    /// if it is one).
    // With one person per 50 events the `min` is always 0; the formula
    // stays general in the proportion.
    #[allow(clippy::unnecessary_min_or_max)]
    fn last_person(n: u64) -> u64 {
        let (epoch, offset) = (n / TOTAL_PROPORTION, n % TOTAL_PROPORTION);
        epoch * PERSON_PROPORTION + offset.min(PERSON_PROPORTION - 1)
    }

    /// Base-0 id of the latest auction at event `n`; `None` before the first.
    fn last_auction(n: u64) -> Option<u64> {
        let (epoch, offset) = (n / TOTAL_PROPORTION, n % TOTAL_PROPORTION);
        if offset < PERSON_PROPORTION {
            (epoch * AUCTION_PROPORTION).checked_sub(1)
        } else {
            let offset = (offset - PERSON_PROPORTION).min(AUCTION_PROPORTION - 1);
            Some(epoch * AUCTION_PROPORTION + offset)
        }
    }

    /// A random one of the active people (base 0) at event `n`.
    fn random_person(&self, rng: &mut Rng, n: u64) -> u64 {
        let people = Self::last_person(n) + 1;
        let active = people.min(self.config.num_active_people.max(1));
        people - active + rng.below(active)
    }

    /// Event number `n`.
    pub fn event(&self, n: u64) -> TimedEvent {
        let mut rng = Rng::new(self.config.seed, n);
        let time_ms = self.time_of(n);
        let offset = n % TOTAL_PROPORTION;
        let event = if offset < PERSON_PROPORTION {
            Event::Person(self.person(&mut rng, n, time_ms))
        } else if offset < PERSON_PROPORTION + AUCTION_PROPORTION {
            Event::Auction(self.auction(&mut rng, n, time_ms))
        } else {
            Event::Bid(self.bid(&mut rng, n, time_ms))
        };
        TimedEvent { time_ms, event }
    }

    fn person(&self, rng: &mut Rng, n: u64, time_ms: i64) -> Person {
        let name = format!("{} {}", rng.pick(&FIRST_NAMES), rng.pick(&LAST_NAMES));
        let email_address = format!("{}@{}.com", rng.letters(7), rng.letters(5));
        let credit_card = format!(
            "{:04} {:04} {:04} {:04}",
            rng.below(10_000),
            rng.below(10_000),
            rng.below(10_000),
            rng.below(10_000)
        );
        Person {
            id: Self::last_person(n) + FIRST_PERSON_ID,
            name,
            email_address,
            credit_card,
            city: rng.pick(&US_CITIES),
            state: rng.pick(&US_STATES),
            date_time: time_ms,
        }
    }

    fn auction(&self, rng: &mut Rng, n: u64, time_ms: i64) -> Auction {
        let id = Self::last_auction(n).unwrap_or(0) + FIRST_AUCTION_ID;
        let seller = if rng.below(self.config.hot_seller_ratio.max(1)) > 0 {
            Self::last_person(n) / HOT_SELLER_RATIO * HOT_SELLER_RATIO
        } else {
            self.random_person(rng, n)
        } + FIRST_PERSON_ID;
        let category = FIRST_CATEGORY_ID + rng.below(NUM_CATEGORIES);
        let initial_bid = rng.price();
        let reserve = initial_bid + rng.price();
        let len = 5 + rng.below(16) as usize;
        let item_name = rng.letters(len);
        let len = 20 + rng.below(81) as usize;
        let description = rng.letters(len);
        // The reference's auction length: up to twice the time the next
        // `num_in_flight_auctions` auctions take to appear.
        let events_for_auctions =
            self.config.num_in_flight_auctions * TOTAL_PROPORTION / AUCTION_PROPORTION;
        let horizon = self.time_of(n + events_for_auctions) - time_ms;
        let expires = time_ms + 1 + rng.below((horizon * 2).max(1) as u64) as i64;
        Auction {
            id,
            item_name,
            description,
            initial_bid,
            reserve,
            date_time: time_ms,
            expires,
            seller,
            category,
        }
    }

    fn bid(&self, rng: &mut Rng, n: u64, time_ms: i64) -> Bid {
        // A bid's event number is past the first auction's (offset >= 4).
        let last_auction = Self::last_auction(n).unwrap_or(0);
        let auction = if rng.below(self.config.hot_auction_ratio.max(1)) > 0 {
            last_auction / HOT_AUCTION_RATIO * HOT_AUCTION_RATIO
        } else {
            let min = last_auction.saturating_sub(self.config.num_in_flight_auctions);
            min + rng.below(last_auction - min + 1)
        } + FIRST_AUCTION_ID;
        let last_person = Self::last_person(n);
        let bidder = if rng.below(self.config.hot_bidder_ratio.max(1)) > 0 {
            (last_person / HOT_BIDDER_RATIO * HOT_BIDDER_RATIO + 1).min(last_person)
        } else {
            self.random_person(rng, n)
        } + FIRST_PERSON_ID;
        let price = rng.price();
        let (channel, url) = if rng.below(2) > 0 {
            let (c, u) = rng.pick(&HOT_CHANNELS);
            (c.to_string(), u.to_string())
        } else {
            let c = rng.below(CHANNELS);
            (
                format!("channel-{c}"),
                format!(
                    "https://www.nexmark.com/{}/item.htm?query=1&channel_id={c}",
                    rng.letters(5)
                ),
            )
        };
        Bid {
            auction,
            bidder,
            price,
            channel,
            url,
            date_time: time_ms,
        }
    }
}

impl Iterator for Generator {
    type Item = TimedEvent;

    fn next(&mut self) -> Option<TimedEvent> {
        let e = self.event(self.next);
        self.next += 1;
        Some(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn events(n: usize) -> Vec<TimedEvent> {
        Generator::new(GeneratorConfig::default()).take(n).collect()
    }

    #[test]
    fn same_seed_same_events_other_seed_other_events() {
        let a = events(5000);
        assert_eq!(a, events(5000));
        let other: Vec<TimedEvent> = Generator::new(GeneratorConfig {
            seed: 2,
            ..GeneratorConfig::default()
        })
        .take(5000)
        .collect();
        assert_ne!(a, other);
        // Neighbouring events draw unrelated prices.
        let prices: Vec<u64> = a
            .iter()
            .filter_map(|e| match &e.event {
                Event::Bid(b) => Some(b.price),
                _ => None,
            })
            .collect();
        let repeats = prices.windows(2).filter(|w| w[0] == w[1]).count();
        assert!(repeats < 5, "{repeats} bids repeat the previous price");
        // Random access gives the same event as iteration.
        let g = Generator::new(GeneratorConfig::default());
        assert_eq!(g.event(4321), a[4321]);
    }

    #[test]
    fn proportions_are_1_3_46() {
        let mut counts = [0u64; 3];
        for e in events(50_000) {
            counts[e.event.type_code() as usize] += 1;
        }
        assert_eq!(counts, [1000, 3000, 46_000]);
    }

    #[test]
    fn ids_refer_to_persons_and_auctions_already_created() {
        let (mut persons, mut auctions) = (HashSet::new(), HashSet::new());
        let (mut hot_auction_bids, mut bids) = (0u64, 0u64);
        for e in events(200_000) {
            match e.event {
                Event::Person(p) => assert!(persons.insert(p.id), "person {} twice", p.id),
                Event::Auction(a) => {
                    assert!(persons.contains(&a.seller), "seller {} unknown", a.seller);
                    assert!(CATEGORIES.contains(&a.category));
                    assert!(a.reserve > a.initial_bid && a.expires > a.date_time);
                    assert!(auctions.insert(a.id), "auction {} twice", a.id);
                }
                Event::Bid(b) => {
                    assert!(
                        auctions.contains(&b.auction),
                        "auction {} unknown",
                        b.auction
                    );
                    assert!(persons.contains(&b.bidder), "bidder {} unknown", b.bidder);
                    assert!((100..=100_000_000).contains(&b.price));
                    bids += 1;
                    hot_auction_bids += u64::from(b.auction % 100 == 0);
                }
            }
        }
        // About half the bids go to a hot auction (a multiple of 100).
        let share = hot_auction_bids as f64 / bids as f64;
        assert!((0.45..0.6).contains(&share), "hot auction share {share}");
    }

    #[test]
    fn times_follow_the_rate_and_json_parses() {
        let g = Generator::new(GeneratorConfig {
            events_per_second: 20,
            ..GeneratorConfig::default()
        });
        assert_eq!(g.time_of(20) - g.time_of(0), 1000);
        assert_eq!(g.time_of(1) - g.time_of(0), 50);
        for e in g.take(100) {
            let v: serde_json::Value = serde_json::from_str(&e.to_json()).expect("valid JSON");
            assert_eq!(v["event_type"], e.event.type_code());
            let key = ["person", "auction", "bid"][e.event.type_code() as usize];
            assert_eq!(v[key]["dateTime"], e.time_ms);
        }
    }
}
