package dev.tapprove.keycloak;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

class PairingCodeStoreTest {
    private static final long T0 = 1_800_000_000L;

    /** An in-memory slot; {@code used} is shared like Keycloak's single-use store. */
    static final class MemorySlot implements PairingCodeStore.Slot {
        PairingCodeStore.Pending pending;
        final Set<String> used;

        MemorySlot(Set<String> used) {
            this.used = used;
        }

        static Set<String> singleUseStore() {
            return ConcurrentHashMap.newKeySet();
        }

        /** Tries claimed at {@code digest}. */
        int tries(String digest) {
            int n = 0;
            while (used.contains("try:" + digest + ":" + (n + 1))) {
                n++;
            }
            return n;
        }

        @Override
        public int claimTry(String digest, int max, long lifespanSeconds) {
            for (int attempt = 1; attempt <= max; attempt++) {
                if (used.add("try:" + digest + ":" + attempt)) {
                    return attempt;
                }
            }
            return 0;
        }

        @Override
        public Optional<PairingCodeStore.Pending> read() {
            return Optional.ofNullable(pending);
        }

        @Override
        public void write(PairingCodeStore.Pending p) {
            pending = p;
        }

        @Override
        public void clear() {
            pending = null;
        }

        @Override
        public boolean claimOnce(String digest, long lifespanSeconds) {
            return used.add(digest);
        }
    }

    private final PairingCodeStore store = new PairingCodeStore(Secret.of("digest key"));
    private final MemorySlot slot = new MemorySlot(MemorySlot.singleUseStore());

    @Test
    void codesAreCanonicalRandomAndTypeTolerant() {
        String a = PairingCode.generate();
        assertEquals(8, a.length());
        assertEquals(Optional.of(a), PairingCode.normalize(a));
        assertNotEquals(a, PairingCode.generate(), "40 random bits collided");
        assertEquals(Optional.of("7KQ2M9XD"), PairingCode.normalize("7kq2-m9xd"));
        assertEquals(Optional.of("01101111"), PairingCode.normalize("OIL0 1111"));
        assertEquals(Optional.empty(), PairingCode.normalize("7KQ2-M9X"));
        assertEquals(Optional.empty(), PairingCode.normalize("7KQ2-M9XDD"));
        assertEquals(Optional.empty(), PairingCode.normalize("7KQ2-M9XU"), "U is not Crockford");
        assertEquals("7KQ2-M9XD", PairingCode.display("7KQ2M9XD"));
    }

    @Test
    void acceptsOnceThenNoMore() {
        String code = store.issue("u1", slot, T0);
        assertFalse(slot.pending.digest().contains(code), "only a digest is stored");
        assertEquals(PairingCodeStore.Outcome.ACCEPTED, store.verify("u1", PairingCode.display(code).toLowerCase(), slot, T0 + 5));
        assertEquals(PairingCodeStore.Outcome.NO_CODE, store.verify("u1", code, slot, T0 + 6));
    }

    @Test
    void aConcurrentSecondUseLosesTheClaim() {
        Set<String> shared = MemorySlot.singleUseStore();
        MemorySlot nodeA = new MemorySlot(shared);
        String code = store.issue("u1", nodeA, T0);
        MemorySlot nodeB = new MemorySlot(shared);
        nodeB.pending = nodeA.pending; // both nodes read the record before either cleared it
        assertEquals(PairingCodeStore.Outcome.ACCEPTED, store.verify("u1", code, nodeA, T0 + 1));
        assertEquals(PairingCodeStore.Outcome.ALREADY_USED, store.verify("u1", code, nodeB, T0 + 1));
    }

    @Test
    void expiresAfterTenMinutes() {
        String code = store.issue("u1", slot, T0);
        assertEquals(PairingCodeStore.Outcome.EXPIRED, store.verify("u1", code, slot, T0 + 601));
        assertEquals(PairingCodeStore.Outcome.NO_CODE, store.verify("u1", code, slot, T0 + 602));
        String fresh = store.issue("u1", slot, T0 + 1000);
        assertEquals(PairingCodeStore.Outcome.ACCEPTED, store.verify("u1", fresh, slot, T0 + 1600));
    }

    @Test
    void fiveWrongTriesVoidTheCode() {
        String code = store.issue("u1", slot, T0);
        for (int i = 1; i < PairingCodeStore.MAX_FAILURES; i++) {
            assertEquals(PairingCodeStore.Outcome.WRONG, store.verify("u1", "AAAA-AAAA", slot, T0 + i));
            assertEquals(i, slot.tries(slot.pending.digest()));
        }
        assertEquals(PairingCodeStore.Outcome.EXHAUSTED, store.verify("u1", "not even a code", slot, T0 + 10));
        assertEquals(PairingCodeStore.Outcome.NO_CODE, store.verify("u1", code, slot, T0 + 11), "the right code is void now");
    }

    @Test
    void aCodeBelongsToItsUserAndKey() {
        String code = store.issue("u1", slot, T0);
        assertEquals(PairingCodeStore.Outcome.WRONG, store.verify("u2", code, slot, T0 + 1), "another user's code");
        PairingCodeStore otherRealm = new PairingCodeStore(Secret.of("another key"));
        assertEquals(PairingCodeStore.Outcome.WRONG, otherRealm.verify("u1", code, slot, T0 + 2));
        assertEquals(PairingCodeStore.Outcome.ACCEPTED, store.verify("u1", code, slot, T0 + 3));
        assertTrue(slot.read().isEmpty());
    }

    @Test
    void parallelGuessesOnManyNodesGetNoMoreThanFiveTries() throws Exception {
        Set<String> shared = MemorySlot.singleUseStore();
        MemorySlot first = new MemorySlot(shared);
        String code = store.issue("u1", first, T0);
        int nodes = 40;
        CountDownLatch start = new CountDownLatch(1);
        ExecutorService pool = Executors.newFixedThreadPool(nodes);
        List<Future<PairingCodeStore.Outcome>> outcomes = new ArrayList<>();
        for (int i = 0; i < nodes; i++) {
            // Every node has read the record before any guess was counted.
            MemorySlot node = new MemorySlot(shared);
            node.pending = first.pending;
            outcomes.add(pool.submit(() -> {
                start.await();
                return store.verify("u1", "AAAA-AAAA", node, T0 + 1);
            }));
        }
        start.countDown();
        int wrong = 0;
        int exhausted = 0;
        for (Future<PairingCodeStore.Outcome> f : outcomes) {
            PairingCodeStore.Outcome o = f.get();
            if (o == PairingCodeStore.Outcome.WRONG) {
                wrong++;
            } else if (o == PairingCodeStore.Outcome.EXHAUSTED) {
                exhausted++;
            }
        }
        pool.shutdown();
        assertEquals(PairingCodeStore.MAX_FAILURES - 1, wrong, "tries beyond the limit were compared");
        assertEquals(nodes - wrong, exhausted);
        MemorySlot late = new MemorySlot(shared);
        late.pending = first.pending;
        assertEquals(PairingCodeStore.Outcome.EXHAUSTED, store.verify("u1", code, late, T0 + 2),
                "the right code after the race is void");
    }
}
