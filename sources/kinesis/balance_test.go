package kinesis

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func owned(owner string, keys ...string) []leaseState {
	out := make([]leaseState, len(keys))
	for i, k := range keys {
		out[i] = leaseState{key: k, owner: owner}
	}
	return out
}

func join(ls ...[]leaseState) []leaseState {
	var out []leaseState
	for _, l := range ls {
		out = append(out, l...)
	}
	return out
}

func TestBalance(t *testing.T) {
	t.Parallel()
	expired := func(l []leaseState) []leaseState {
		for i := range l {
			l[i].expired = true
		}
		return l
	}
	finished := func(l []leaseState) []leaseState {
		for i := range l {
			l[i].finished = true
		}
		return l
	}
	tests := []struct {
		name   string
		leases []leaseState
		want   takePlan
	}{
		{"nothing", nil, takePlan{}},
		{"alone takes everything", owned("", "a", "b", "c", "d"), takePlan{take: []string{"a", "b", "c", "d"}, target: 4}},
		{"finished leases do not count", join(owned("", "a", "b"), finished(owned("", "p"))), takePlan{take: []string{"a", "b"}, target: 2}},
		{"second worker steals from one holding all", owned("w1", "a", "b", "c", "d"), takePlan{steal: "a", target: 2}},
		{"one short, victim above target", join(owned("w1", "a", "b", "c"), owned("me", "d")), takePlan{steal: "a", target: 2}},
		{"balanced: no steal", join(owned("w1", "a", "b"), owned("me", "c", "d")), takePlan{target: 2}},
		{"third worker: 4 over 3, steal one", join(owned("w1", "a", "b"), owned("w2", "c", "d")), takePlan{steal: "a", target: 2}},
		{"third worker with one: victim at target, no ping-pong", join(owned("w1", "a"), owned("w2", "c", "d"), owned("me", "b")), takePlan{target: 2}},
		{"a free lease within its share", join(owned("w1", "a", "b"), owned("me", "c", "d"), owned("", "e")), takePlan{target: 3, take: []string{"e"}}},
		{"above target: nothing", join(owned("w1", "a"), owned("me", "b", "c", "d")), takePlan{target: 2}},
		{"expired leases are taken, their owner is not a live worker",
			join(expired(owned("dead", "a", "b")), owned("w1", "c", "d")),
			takePlan{take: []string{"a", "b"}, target: 2}},
		{"free and expired before stealing",
			join(owned("w1", "a", "b", "c"), expired(owned("dead", "d")), owned("", "e")),
			takePlan{take: []string{"d", "e"}, target: 3}},
		{"takes only up to its share",
			join(owned("w1", "a"), owned("", "b", "c", "d", "e", "f")),
			takePlan{take: []string{"b", "c", "d"}, target: 3}},
		{"steals from the most loaded, ties to the smallest id",
			join(owned("w2", "a", "b", "c"), owned("w1", "d", "e", "f")),
			takePlan{steal: "d", target: 2}},
		{"my own expired-looking lease still counts as mine",
			join(expired(owned("me", "a")), owned("w1", "b")),
			takePlan{target: 1}},
		{"never steals a finished lease",
			join(finished(owned("w1", "p")), owned("w1", "a", "b")),
			takePlan{steal: "a", target: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, balance("me", tt.leases))
		})
	}
}

// TestBalanceConverges runs rounds of balancing among workers joining and leaving until
// nothing moves, and checks that every lease is held and the spread is at most one.
func TestBalanceConverges(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ leases, workers int }{{4, 1}, {4, 2}, {4, 3}, {4, 5}, {10, 3}, {64, 7}, {1, 2}} {
		owner := map[string]string{}
		keys := make([]string, tc.leases)
		for i := range keys {
			keys[i] = string(rune('A'+i/26)) + string(rune('a'+i%26))
			owner[keys[i]] = ""
		}
		workers := make([]string, tc.workers)
		for i := range workers {
			workers[i] = string(rune('0' + i))
		}
		moves := 0
		for round := 0; round < 200; round++ {
			changed := false
			for _, w := range workers {
				states := make([]leaseState, len(keys))
				for i, k := range keys {
					states[i] = leaseState{key: k, owner: owner[k]}
				}
				p := balance(w, states)
				for _, k := range p.take {
					owner[k], changed = w, true
				}
				if p.steal != "" {
					owner[p.steal], changed = w, true
					moves++
				}
			}
			if !changed {
				break
			}
		}
		counts := map[string]int{}
		for _, k := range keys {
			assert.NotEmpty(t, owner[k], "%+v: lease %s unheld", tc, k)
			counts[owner[k]]++
		}
		lo, hi := tc.leases, 0
		for _, w := range workers {
			lo, hi = min(lo, counts[w]), max(hi, counts[w])
		}
		if tc.workers <= tc.leases {
			assert.LessOrEqual(t, hi-lo, 1, "%+v: spread %v", tc, counts)
		}
		assert.Less(t, moves, tc.leases*2, "%+v: too many steals", tc)
	}
}

func TestPlannedLeases(t *testing.T) {
	t.Parallel()
	sh := func(id string, closed bool, parents ...string) shardInfo {
		return shardInfo{id: id, closed: closed, parents: parents}
	}
	// 0 split into 2 and 3; 1 and 2 merged into 4.
	family := []shardInfo{sh("4", false, "1", "2"), sh("0", true), sh("1", true), sh("2", true, "0"), sh("3", false, "0")}
	type nl struct{ id, cp string }
	flat := func(ls []newLease) []nl {
		var out []nl
		for _, l := range ls {
			out = append(out, nl{l.shard.id, l.checkpoint})
		}
		return out
	}
	tests := []struct {
		name   string
		shards []shardInfo
		known  map[string]bool
		start  string
		want   []nl
	}{
		{"trim horizon: every shard, parents first", family, nil, StartTrimHorizon,
			[]nl{{"0", "TRIM_HORIZON"}, {"1", "TRIM_HORIZON"}, {"2", "TRIM_HORIZON"}, {"3", "TRIM_HORIZON"}, {"4", "TRIM_HORIZON"}}},
		{"latest: open shards only", family, nil, StartLatest,
			[]nl{{"3", "LATEST"}, {"4", "LATEST"}}},
		{"at timestamp: the whole family at the timestamp", family, nil, StartAtTimestamp,
			[]nl{{"0", "AT_TIMESTAMP"}, {"1", "AT_TIMESTAMP"}, {"2", "AT_TIMESTAMP"}, {"3", "AT_TIMESTAMP"}, {"4", "AT_TIMESTAMP"}}},
		{"children of known parents start at their beginning, whatever the position",
			[]shardInfo{sh("0", true), sh("1", false, "0"), sh("2", false, "0")}, map[string]bool{"0": true}, StartLatest,
			[]nl{{"1", "TRIM_HORIZON"}, {"2", "TRIM_HORIZON"}}},
		{"at timestamp, children of known parents at trim horizon",
			[]shardInfo{sh("0", true), sh("1", false, "0")}, map[string]bool{"0": true}, StartAtTimestamp,
			[]nl{{"1", "TRIM_HORIZON"}}},
		{"grandchildren of a known shard, closed in between, under latest",
			[]shardInfo{sh("0", true), sh("1", true, "0"), sh("2", false, "1"), sh("3", false, "1")}, map[string]bool{"0": true}, StartLatest,
			[]nl{{"1", "TRIM_HORIZON"}, {"2", "TRIM_HORIZON"}, {"3", "TRIM_HORIZON"}}},
		{"parent trimmed away: the child starts at the position",
			[]shardInfo{sh("5", false, "gone")}, nil, StartLatest,
			[]nl{{"5", "LATEST"}}},
		{"nothing new", family, map[string]bool{"0": true, "1": true, "2": true, "3": true, "4": true}, StartTrimHorizon, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, flat(plannedLeases(tt.shards, tt.known, tt.start)))
		})
	}
}
