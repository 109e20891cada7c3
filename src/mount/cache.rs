//! The mount's caches: decoded blocks (least recently used first out) and decoded images.

use super::*;

/// How many recently decoded images the mount keeps for files opened again, and how many bytes
/// of them at most (the last one is kept whatever its size). Images held by open files are
/// kept by their handles beyond this.
pub(super) const IMAGES_CACHED: usize = 4;
pub(super) const IMAGES_CACHED_BYTES: usize = 256 << 20;

/// Decoded PNGs of lossy image entries. Each image is decoded once however many readers want
/// it at the same time: readers of one image wait on its slot while the first decodes it, and
/// readers of different images decode in parallel. An open file handle holds its image for as
/// long as it is open, so images that together exceed the budget, read at once, do not evict
/// each other on every read; `recent` keeps the last few for files that are opened again.
pub(super) struct Images {
    /// Image entry → its slot, locked while decoding; a weak reference, alive while a handle
    /// or `recent` holds the image.
    pub(super) slots: Mutex<HashMap<usize, Arc<ImageSlot>>>,
    /// Most recently used last.
    pub(super) recent: Mutex<std::collections::VecDeque<(usize, Arc<Vec<u8>>)>>,
    pub(super) budget: usize,
    /// Images decoded so far (a decode per image and handle would show up here).
    pub(super) decodes: std::sync::atomic::AtomicUsize,
}

/// Locked while its image decodes; alive while a handle or `recent` holds the image.
pub(super) type ImageSlot = Mutex<std::sync::Weak<Vec<u8>>>;

impl Images {
    pub(super) fn new(budget: usize) -> Images {
        Images {
            slots: Mutex::new(HashMap::new()),
            recent: Mutex::new(std::collections::VecDeque::new()),
            budget,
            decodes: Default::default(),
        }
    }

    /// Image `i`, from a live copy or decoded by `decode` (once, whoever else is waiting).
    pub(super) fn get(
        &self,
        i: usize,
        decode: impl FnOnce() -> Result<Vec<u8>>,
    ) -> Result<Arc<Vec<u8>>> {
        let slot = lock(&self.slots).entry(i).or_default().clone();
        let mut held = lock(&slot);
        let png = match held.upgrade() {
            Some(p) => p,
            None => {
                let p = Arc::new(decode()?);
                self.decodes
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                *held = Arc::downgrade(&p);
                p
            }
        };
        drop(held);
        let mut recent = lock(&self.recent);
        recent.retain(|(j, _)| *j != i);
        recent.push_back((i, png.clone()));
        while recent.len() > 1
            && (recent.len() > IMAGES_CACHED
                || recent.iter().map(|(_, p)| p.len()).sum::<usize>() > self.budget)
        {
            recent.pop_front();
        }
        Ok(png)
    }
}

/// Decoded blocks, least recently used evicted first once their total exceeds the budget.
/// Each block has a slot that readers lock while it is decoded, so concurrent readers of one
/// block (kernel readahead on several threads) decode it once.
pub(super) struct BlockCache {
    pub(super) budget: u64,
    pub(super) lru: Mutex<Lru>,
}

pub(super) type Slot = Mutex<Option<Arc<Vec<u8>>>>;

#[derive(Default)]
pub(super) struct Lru {
    /// Block → (slot, last use, bytes charged).
    pub(super) map: HashMap<u32, (Arc<Slot>, u64, u64)>,
    /// Last use → block, oldest first.
    pub(super) order: BTreeMap<u64, u32>,
    pub(super) bytes: u64,
    pub(super) clock: u64,
}

impl BlockCache {
    pub(super) fn new(budget: u64) -> Self {
        BlockCache {
            budget,
            lru: Mutex::new(Lru::default()),
        }
    }

    /// The slot of block `n` (created empty if missing), marked as just used.
    pub(super) fn slot(&self, n: u32, cost: u64) -> Arc<Slot> {
        let mut l = lock(&self.lru);
        l.clock += 1;
        let now = l.clock;
        if let Some((slot, used, _)) = l.map.get_mut(&n) {
            let (slot, old) = (slot.clone(), std::mem::replace(used, now));
            l.order.remove(&old);
            l.order.insert(now, n);
            return slot;
        }
        while l.bytes + cost > self.budget {
            let Some((_, victim)) = l.order.pop_first() else {
                break;
            };
            if let Some((_, _, c)) = l.map.remove(&victim) {
                l.bytes -= c;
            }
        }
        let slot = Arc::new(Mutex::new(None));
        l.map.insert(n, (slot.clone(), now, cost));
        l.order.insert(now, n);
        l.bytes += cost;
        slot
    }

    /// Whether block `n` has a slot (decoded, or being decoded), without marking it used.
    pub(super) fn contains(&self, n: u32) -> bool {
        lock(&self.lru).map.contains_key(&n)
    }

    /// Drops block `n` (its decode failed; the next read tries again).
    pub(super) fn forget(&self, n: u32) {
        let mut l = lock(&self.lru);
        if let Some((_, used, c)) = l.map.remove(&n) {
            l.order.remove(&used);
            l.bytes -= c;
        }
    }
}

/// Locks a mutex, ignoring poisoning: every critical section here leaves the data consistent.
pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
