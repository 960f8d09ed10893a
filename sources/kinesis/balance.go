package kinesis

import (
	"slices"
	"strings"
)

// leaseState is what the balancer knows of one lease.
type leaseState struct {
	key   string
	owner string // "" when nobody holds it
	// expired: the owner has not renewed it (its counter has not moved) for lease_duration.
	expired bool
	// finished: its shard is read to the end and delivered (checkpoint SHARD_END).
	finished bool
}

// takePlan is what one worker does in one round of lease taking.
type takePlan struct {
	// take are leases nobody holds, or whose holder stopped renewing them.
	take []string
	// steal is one lease to take from the most loaded worker, or "".
	steal string
	// target is this worker's share: ceil(leases / live workers).
	target int
}

// balance decides, as the KCL does, which leases worker me takes: its share is
// ceil(unfinished leases / live workers), where live workers are the owners of leases that
// are not expired, plus me. Below its share it takes free and expired leases, in the order
// given (the caller shuffles, so that workers starting together do not all race for the
// same ones). Only when there are none does it steal, one lease per round, from the most
// loaded worker, and only when that leaves the victim at or above the share (when one more
// lease is all that is missing, the victim must be above it): so leases move towards the
// worker that has too few and never ping-pong between two that are balanced.
func balance(me string, leases []leaseState) takePlan {
	counts := map[string]int{me: 0}
	active := 0
	for _, l := range leases {
		if l.finished {
			continue
		}
		active++
		if l.owner != "" && (!l.expired || l.owner == me) {
			counts[l.owner]++
		}
	}
	if active == 0 {
		return takePlan{}
	}
	workers := len(counts)
	target := (active + workers - 1) / workers
	plan := takePlan{target: target}
	need := target - counts[me]
	if need <= 0 {
		return plan
	}
	for _, l := range leases {
		if len(plan.take) == need {
			break
		}
		if !l.finished && l.owner != me && (l.owner == "" || l.expired) {
			plan.take = append(plan.take, l.key)
		}
	}
	if len(plan.take) > 0 {
		return plan
	}
	// The most loaded worker; ties go to the smallest id, so the choice is stable.
	victim, most := "", 0
	for w, n := range counts {
		if w != me && (n > most || (n == most && strings.Compare(w, victim) < 0)) {
			victim, most = w, n
		}
	}
	if victim == "" || most < target || (need == 1 && most == target) {
		return plan
	}
	i := slices.IndexFunc(leases, func(l leaseState) bool {
		return l.owner == victim && !l.finished && !l.expired
	})
	if i >= 0 {
		plan.steal = leases[i].key
	}
	return plan
}

// shardInfo is what the shard sync needs of one shard.
type shardInfo struct {
	id      string
	parents []string
	closed  bool
}

// newLease is a lease to create: its shard and the checkpoint it starts from.
type newLease struct {
	shard      shardInfo
	checkpoint string
}

// plannedLeases decides which shards of one stream get a lease, and where each starts.
// known holds the shards that already have one. A shard whose parent has (or gets) a lease
// is a child of a split or merge: it starts at TRIM_HORIZON, whatever the start position
// (AT_TIMESTAMP when its parents are new as well), and is read only after its parents are
// finished, so nothing between them is skipped.
// Other shards start at start: all of them for TRIM_HORIZON and AT_TIMESTAMP (closed
// ancestors first), and only the open ones for LATEST, whose closed shards hold nothing
// newer than now. Parents come before their children in the result.
func plannedLeases(shards []shardInfo, known map[string]bool, start string) []newLease {
	tracked := make(map[string]bool, len(known)+len(shards))
	for k := range known {
		tracked[k] = true
	}
	listed := make(map[string]bool, len(shards))
	for _, s := range shards {
		listed[s.id] = true
	}
	var out []newLease
	done := make(map[string]bool, len(shards))
	// Parents before children: a shard is decided once every listed parent is decided.
	for progress := true; progress; {
		progress = false
		for _, s := range shards {
			if done[s.id] {
				continue
			}
			ready := true
			for _, p := range s.parents {
				if listed[p] && !done[p] {
					ready = false
				}
			}
			if !ready {
				continue
			}
			done[s.id], progress = true, true
			if tracked[s.id] {
				continue
			}
			child := slices.ContainsFunc(s.parents, func(p string) bool { return tracked[p] })
			switch {
			case child && start == StartAtTimestamp && !slices.ContainsFunc(s.parents, func(p string) bool { return known[p] }):
				// Its parents are new too: the whole family starts at the timestamp.
				out = append(out, newLease{shard: s, checkpoint: start})
			case child:
				out = append(out, newLease{shard: s, checkpoint: StartTrimHorizon})
			case start == StartLatest && s.closed:
				continue
			default:
				out = append(out, newLease{shard: s, checkpoint: start})
			}
			tracked[s.id] = true
		}
	}
	return out
}
