//! A bounded ring buffer with a filtered index kept up to date as items
//! arrive, and a follow/pause position over it: the traffic inspector and
//! the trace view hold up to hundreds of thousands of rows, so nothing here
//! walks every row except a change of filter.

use std::collections::VecDeque;

/// Items numbered in arrival order (`seq`), the oldest dropped beyond `cap`.
#[derive(Debug, Clone)]
pub struct Ring<T> {
    items: VecDeque<T>,
    cap: usize,
    /// The seq of `items[0]`.
    first: u64,
    /// Items dropped because the ring was full.
    dropped: u64,
    /// Seqs of the items the filter keeps, ascending.
    shown: VecDeque<u64>,
}

impl<T> Ring<T> {
    /// An empty ring holding at most `cap` items (at least one).
    pub fn new(cap: usize) -> Ring<T> {
        Ring {
            items: VecDeque::new(),
            cap: cap.max(1),
            first: 0,
            dropped: 0,
            shown: VecDeque::new(),
        }
    }

    /// Adds `item` (dropping the oldest when full); `shown` says whether the
    /// filter keeps it.
    pub fn push(&mut self, item: T, shown: bool) {
        if self.items.len() == self.cap {
            self.items.pop_front();
            if self.shown.front() == Some(&self.first) {
                self.shown.pop_front();
            }
            self.first += 1;
            self.dropped += 1;
        }
        if shown {
            self.shown.push_back(self.next_seq());
        }
        self.items.push_back(item);
    }

    /// The seq the next item will get.
    pub fn next_seq(&self) -> u64 {
        self.first + self.items.len() as u64
    }

    /// The item with this seq, if it is still held.
    pub fn get(&self, seq: u64) -> Option<&T> {
        let at = seq.checked_sub(self.first)?;
        self.items.get(usize::try_from(at).ok()?)
    }

    /// The item with this seq, to change, if it is still held.
    pub fn get_mut(&mut self, seq: u64) -> Option<&mut T> {
        let at = seq.checked_sub(self.first)?;
        self.items.get_mut(usize::try_from(at).ok()?)
    }

    /// Items held.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The most items held.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Items dropped because the ring was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Seqs of the items the filter keeps, ascending.
    pub fn shown(&self) -> &VecDeque<u64> {
        &self.shown
    }

    /// Every held item with its seq, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &T)> {
        (self.first..).zip(self.items.iter())
    }

    /// Rebuilds the filtered index (on a change of filter only).
    pub fn refilter(&mut self, keep: impl Fn(&T) -> bool) {
        self.shown = self
            .iter()
            .filter(|(_, item)| keep(item))
            .map(|(seq, _)| seq)
            .collect();
    }
}

/// Where a view of a [`Ring`] stands: following the newest row or on a
/// chosen one, and paused or not.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Follow {
    /// The selected row's seq; `None` follows the newest row.
    pub selected: Option<u64>,
    /// While paused: the first seq not shown (rows that came later wait).
    pub paused: Option<u64>,
}

impl Follow {
    /// How many of the filtered rows are shown (all but those that came
    /// while paused).
    pub fn visible<T>(&self, ring: &Ring<T>) -> usize {
        match self.paused {
            Some(end) => ring.shown().partition_point(|&s| s < end),
            None => ring.shown().len(),
        }
    }

    /// Filtered rows that came while paused (the `PAUSED +N`).
    pub fn waiting<T>(&self, ring: &Ring<T>) -> usize {
        ring.shown().len() - self.visible(ring)
    }

    /// The index (among the visible rows) of the selected row, if any row
    /// is visible: the newest when following, else the selected one or the
    /// nearest after it (it may have been dropped or filtered out).
    pub fn index<T>(&self, ring: &Ring<T>) -> Option<usize> {
        let n = self.visible(ring);
        if n == 0 {
            return None;
        }
        Some(match self.selected {
            None => n - 1,
            Some(seq) => ring.shown().partition_point(|&s| s < seq).min(n - 1),
        })
    }

    /// The seq of the selected row, if any row is visible.
    pub fn selected_seq<T>(&self, ring: &Ring<T>) -> Option<u64> {
        self.index(ring).and_then(|i| ring.shown().get(i).copied())
    }

    /// Moves the selection by `delta` rows; reaching the newest row follows
    /// again.
    pub fn step<T>(&mut self, ring: &Ring<T>, delta: isize) {
        let Some(at) = self.index(ring) else {
            return;
        };
        let n = self.visible(ring);
        let to = at.saturating_add_signed(delta).min(n - 1);
        self.selected = if to == n - 1 && delta > 0 {
            None
        } else {
            ring.shown().get(to).copied()
        };
    }

    /// Pauses (keeping what is shown) or resumes.
    pub fn toggle_pause<T>(&mut self, ring: &Ring<T>) {
        self.paused = match self.paused {
            Some(_) => None,
            None => Some(ring.next_seq()),
        };
    }

    /// The first row to draw so that the selected one is in a window of
    /// `height` rows: the newest rows when following, else the selection
    /// kept in the middle.
    pub fn top<T>(&self, ring: &Ring<T>, height: usize) -> usize {
        let n = self.visible(ring);
        let Some(at) = self.index(ring) else {
            return 0;
        };
        let max_top = n.saturating_sub(height);
        match self.selected {
            None => max_top,
            Some(_) => at.saturating_sub(height / 2).min(max_top),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_is_bounded_and_counts_what_it_dropped() {
        let mut r = Ring::new(3);
        for i in 0..5 {
            r.push(i, i % 2 == 0);
        }
        assert_eq!(r.len(), 3);
        assert_eq!(r.dropped(), 2);
        assert_eq!(r.get(1), None);
        assert_eq!(r.get(2), Some(&2));
        assert_eq!(r.shown().iter().copied().collect::<Vec<_>>(), [2, 4]);
        r.refilter(|&i| i > 2);
        assert_eq!(r.shown().iter().copied().collect::<Vec<_>>(), [3, 4]);
        assert_eq!(r.next_seq(), 5);
    }

    #[test]
    fn pausing_holds_the_rows_and_counts_the_new_ones() {
        let mut r = Ring::new(100);
        let mut f = Follow::default();
        for i in 0..10 {
            r.push(i, true);
        }
        f.toggle_pause(&r);
        for i in 10..15 {
            r.push(i, true);
        }
        r.push(99, false);
        assert_eq!(f.visible(&r), 10);
        assert_eq!(f.waiting(&r), 5);
        assert_eq!(f.selected_seq(&r), Some(9));
        f.toggle_pause(&r);
        assert_eq!(f.waiting(&r), 0);
        assert_eq!(f.selected_seq(&r), Some(14));
    }

    #[test]
    fn stepping_selects_and_the_bottom_follows_again() {
        let mut r = Ring::new(100);
        let mut f = Follow::default();
        for i in 0..10 {
            r.push(i, true);
        }
        f.step(&r, -3);
        assert_eq!(f.selected, Some(6));
        r.push(10, true);
        assert_eq!(f.selected_seq(&r), Some(6));
        assert_eq!(f.top(&r, 4), 4);
        f.step(&r, 100);
        assert_eq!(f.selected, None);
        assert_eq!(f.selected_seq(&r), Some(10));
        assert_eq!(f.top(&r, 4), 7);
    }

    #[test]
    fn a_dropped_selection_moves_to_the_oldest_row() {
        let mut r = Ring::new(3);
        let mut f = Follow::default();
        for i in 0..3 {
            r.push(i, true);
        }
        f.step(&r, -2);
        assert_eq!(f.selected, Some(0));
        r.push(3, true);
        assert_eq!(f.selected_seq(&r), Some(1));
    }
}
