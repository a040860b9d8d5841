//! Longer explanations, kept out of the API pages.
//!
//! * [`internals`] — how the control plane and the forwarding store are built.
//! * [`limitations`] — what the engine does not do (yet).

pub mod internals {
    //! # Internals
    //!
    //! ## Control plane
    //!
    //! One `Control` value behind one mutex holds the protocol registry, the interfaces and
    //! who is on them, the memberships (one record per selector holding its sorted
    //! (interface, protocol) pairs, and a set per interface), the forwarding entries (records
    //! in a hash map, each with its outgoing list inline up to five interfaces; keys in an
    //! ordered set for (group, source) walks and `(*,G)` ranges), an index of entries by
    //! incoming interface, the lifetime timers (an ordered set of deadlines) and the RIB (one
    //! hash table per prefix length, longest first).
    //!
    //! Each public call is one transaction: it validates everything first (so a refused call
    //! changes nothing), then changes state, publishing every entry change to the forwarding
    //! store and queueing every notification in an outbox. Before the lock is released the
    //! outbox is sent: one batch per protocol, in the order the changes were made, and one
    //! batch to each southbound subscriber. Questions for protocols (RPF, creation alerts,
    //! lifetimes) are asked with the lock released; their answers are applied in a following
    //! short transaction that first checks the entry is still the one asked about (each entry
    //! carries a creation stamp).
    //!
    //! The outgoing list of an entry is derived, per interface K, as G-21 recommends: a
    //! forward-state add or delete on K decides if present; otherwise K is listed when some
    //! membership on K selects the entry and no creation alert vetoed K. The incoming
    //! interface is never listed.
    //!
    //! ## Handles
    //!
    //! 64 bits: a 2-bit kind, a 30-bit generation, a 32-bit slot. Each slot has one atomic
    //! word `generation << 1 | live`; a check is one load and one compare, done before the
    //! lock is taken (and again under it, where the answer is authoritative).
    //!
    //! ## Forwarding store
    //!
    //! A directory maps each incoming interface to its shard and is published through
    //! `arc-swap`; each reader keeps a snapshot of it and a copy of where each shard's table
    //! is, checked on every lookup with one load of a layout version that every directory
    //! change and every table rebuild bumps. A shard is a single-writer,
    //! many-reader open-addressing table with the entries inline: one cache line per IPv4
    //! entry (two for IPv6) holds the key and up to four OIFs (three for IPv6; longer lists
    //! in a heap array), written in place under a per-slot sequence lock, so a change never
    //! allocates for a short list and never copies the shard. Slots come in groups of four
    //! with one 64-bit tag word per group (a 16-bit tag per slot), so a lookup finds its slot,
    //! or learns the key is absent, from one word. Each worker has its own run of counter
    //! lines, one per group (packets and bytes of the group's four entries), which only that
    //! worker writes; the runs are kept a line apart, so no two workers' lines share the pair
    //! of lines the adjacent-line prefetcher moves together. A reader knows where its counters
    //! are from the slot's position and loads them with the slot. The whole table is one allocation, on transparent huge
    //! pages where the kernel offers them. A table rebuilt when it grows or shrinks carries
    //! its entries' counts into the writer's books; replaced tables and long lists are
    //! reclaimed through `crossbeam::epoch`. Releasing an interface stores a directory without
    //! its shard: one swap, whatever the shard's size. Per-OIF and negative counts are derived
    //! by the writer from the packet count at each list change.
    //!
    //! A lookup whose arrival shard lacks the key asks the **incoming-interface index**, one
    //! open-addressing table over every entry of the store: a 32-bit word per entry, a 21-bit
    //! fingerprint of (S,G) and the shard that holds it (linear probing, 6-8 bytes per entry at
    //! its load of 1/2 to 2/3). No fingerprint there is a miss; an entry naming another shard
    //! is checked in that shard's table, and only the whole key found there makes a
    //! wrong-interface verdict. So a miss costs one probe of the index, and a wrong interface
    //! one more in the right shard, whatever the number of shards. Releasing an interface still
    //! only swaps the directory: the shard's index entries are removed after the swap, and
    //! until then they name a shard that is gone and are skipped.
}

pub mod limitations {
    //! # Limitations
    //!
    //! * Administrative scope boundaries (G-25) are not applied to outgoing lists.
    //! * Packets that arrive while an entry is being created are not queued by the engine
    //!   (the forwarder, e.g. the Linux kernel, holds them); they are counted as `uninit`.
    //! * Control-plane calls serialise on one lock; they do not scale with cores.
    //! * A miss or wrong-interface lookup probes the incoming-interface index and the shard it
    //!   names, except for entries whose incoming interface is reached through the directory's
    //!   hash map (a point-to-multipoint link, or an interface index of 1024 and up): the index
    //!   records only that the entry is in one of those shards, and the lookup probes each of
    //!   them.
    //! * The option to alert on every outgoing-list change (not only empty/non-empty
    //!   transitions, G-22) is not offered.
}
