//! The last few answers of a function worked out again and again on the same few questions, the oldest forgotten
//! first: a call's user agent (`agent::attack_tool`: 61 % of the calls of the generated tree repeat one of their
//! thread's last four agents) and a profile's times (the Redis merge's `resp::Times`: a profile's values share a
//! few times). Looked through in order, which for four is cheaper than hashing the question.

use std::borrow::Borrow;

/// The last `N` questions asked and their answers.
pub(crate) struct Recent<K, V, const N: usize> {
    answers: [(K, V); N],
    /// Where the next new answer goes: the one worked out least recently.
    next: usize,
}

impl<K, V, const N: usize> Recent<K, V, N> {
    /// Remembers `N` answers, all `seeded()` at first: a question and what `work` answers to it.
    pub(crate) fn new(seeded: impl Fn() -> (K, V)) -> Recent<K, V, N> {
        Recent { answers: std::array::from_fn(|_| seeded()), next: 0 }
    }

    /// The answer to `question`, remembered, or worked out by `work` and remembered in place of the oldest (the
    /// question's owned form reusing that one's memory).
    pub(crate) fn answer<Q>(&mut self, question: &Q, work: impl FnOnce(&Q) -> V) -> V
    where
        Q: ?Sized + PartialEq + ToOwned<Owned = K>,
        K: Borrow<Q>,
        V: Clone,
    {
        if let Some((_, answer)) = self.answers.iter().find(|(known, _)| known.borrow() == question) {
            return answer.clone();
        }
        let answer = work(question);
        let (known, slot) = &mut self.answers[self.next];
        question.clone_into(known);
        *slot = answer.clone();
        self.next = (self.next + 1) % N;
        answer
    }
}
