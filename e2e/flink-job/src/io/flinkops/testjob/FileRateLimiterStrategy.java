package io.flinkops.testjob;

import org.apache.flink.api.connector.source.lib.NumberSequenceSource.NumberSequenceSplit;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiter;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;

/**
 * Rate limiter for the generator source whose total rate can be changed at runtime through a file.
 *
 * <p>The total rate (records/s over all source subtasks) starts at {@code --rate}. With a rate file, each
 * subtask re-reads the file at most once a second and uses its number as the new total rate. Each subtask
 * gets {@code total / parallelism}.
 *
 * <p>The limiter keeps a schedule: every permit moves the next free time forward by {@code 1/rate}, and
 * a caller waits until its slot. The wake-up after a wait (timer thread, then the task mailbox) takes a
 * few milliseconds on a busy 2-core host, often longer than the gap between two records, so the schedule
 * may fall behind {@code now} by up to {@link FileRateLimiter#MAX_CATCH_UP_NANOS}: records owed for that
 * long are granted at once, which keeps the long-term rate exact. Anything older is forgotten, so a pause
 * (rate 0, or back-pressure) never turns into a burst larger than that window. Waits happen on a future,
 * never by blocking the task thread, so checkpoints are not held up by the limiter.
 */
public final class FileRateLimiterStrategy implements RateLimiterStrategy<NumberSequenceSplit> {
    private static final long serialVersionUID = 1L;

    private final double initialTotalRate;
    /** Null when the rate is fixed. */
    private final String rateFile;
    /** Keep the whole backlog (records offered but not yet emitted) instead of forgetting it. */
    private final boolean backlog;
    /** The limiter this (per-subtask) copy created last, for the {@code pendingRecords} gauge. */
    private transient FileRateLimiter lastCreated;

    public FileRateLimiterStrategy(double initialTotalRate, String rateFile) {
        this(initialTotalRate, rateFile, false);
    }

    /**
     * With {@code backlog}, the source behaves like a queue fed at the offered rate: whatever back-pressure
     * keeps it from emitting stays owed, is reported as {@code pendingRecords}, and is emitted as fast as the
     * job takes it once the pressure is gone.
     */
    public FileRateLimiterStrategy(double initialTotalRate, String rateFile, boolean backlog) {
        this.initialTotalRate = initialTotalRate;
        this.rateFile = rateFile;
        this.backlog = backlog;
    }

    @Override
    public RateLimiter<NumberSequenceSplit> createRateLimiter(int parallelism) {
        lastCreated = new FileRateLimiter(initialTotalRate, rateFile == null ? null : Path.of(rateFile),
                Math.max(1, parallelism), backlog);
        return lastCreated;
    }

    /** Records offered but not emitted yet by the limiter created last (0 without backlog mode). */
    double pendingRecords() {
        FileRateLimiter limiter = lastCreated;
        return limiter == null ? 0 : limiter.pendingRecords();
    }

    static final class FileRateLimiter implements RateLimiter<NumberSequenceSplit> {
        private static final Logger LOG = LoggerFactory.getLogger(FileRateLimiter.class);
        private static final long RATE_FILE_CHECK_INTERVAL_NANOS = TimeUnit.SECONDS.toNanos(1);
        private static final long GRANT_IMMEDIATELY_BELOW_NANOS = TimeUnit.MILLISECONDS.toNanos(1);
        /** How far the schedule may lag behind now: the largest burst after a late wake-up. */
        static final long MAX_CATCH_UP_NANOS = TimeUnit.MILLISECONDS.toNanos(50);
        /** While paused (rate 0) the limiter re-checks the file this often. */
        private static final long PAUSED_RECHECK_MILLIS = 500;

        private final Path rateFile;
        private final int parallelism;
        private final boolean backlog;
        private double totalRate;
        /** Backlog mode: records offered so far minus records granted, as of {@code offeredAtNanos}. */
        private double owedRecords;
        private long offeredAtNanos;
        private long lastRateFileCheckNanos;
        private long nextFreeNanos;
        private String lastRateFileProblem;

        FileRateLimiter(double initialTotalRate, Path rateFile, int parallelism, boolean backlog) {
            this.totalRate = initialTotalRate;
            this.rateFile = rateFile;
            this.parallelism = parallelism;
            this.backlog = backlog;
            long now = System.nanoTime();
            this.nextFreeNanos = now;
            this.offeredAtNanos = now;
            this.lastRateFileCheckNanos = now - RATE_FILE_CHECK_INTERVAL_NANOS;
        }

        @Override
        public synchronized CompletionStage<Void> acquire(int permits) {
            long now = System.nanoTime();
            refreshRateIfDue(now);
            double ratePerSubtask = totalRate / parallelism;
            if (ratePerSubtask <= 0) {
                // Paused: wait, then try again (which re-reads the rate file when it is due).
                return after(TimeUnit.MILLISECONDS.toNanos(PAUSED_RECHECK_MILLIS))
                        .thenCompose(ignored -> acquire(permits));
            }
            if (backlog) {
                return acquireOwed(permits, now, ratePerSubtask);
            }
            long start = Math.max(now - MAX_CATCH_UP_NANOS, nextFreeNanos);
            nextFreeNanos = start + (long) (permits * 1e9 / ratePerSubtask);
            long wait = start - now;
            if (wait < GRANT_IMMEDIATELY_BELOW_NANOS) {
                return CompletableFuture.completedFuture(null);
            }
            return after(wait);
        }

        /** Backlog mode: grant at once while records are owed, else wait until the offered rate owes them. */
        private CompletionStage<Void> acquireOwed(int permits, long now, double ratePerSubtask) {
            accrue(now, ratePerSubtask);
            owedRecords -= permits;
            if (owedRecords >= 0) {
                return CompletableFuture.completedFuture(null);
            }
            long wait = (long) (-owedRecords * 1e9 / ratePerSubtask);
            return wait < GRANT_IMMEDIATELY_BELOW_NANOS ? CompletableFuture.completedFuture(null) : after(wait);
        }

        private void accrue(long now, double ratePerSubtask) {
            owedRecords += (now - offeredAtNanos) * ratePerSubtask / 1e9;
            offeredAtNanos = now;
        }

        /** Records offered but not yet emitted by this subtask. */
        synchronized double pendingRecords() {
            if (!backlog) {
                return 0;
            }
            accrue(System.nanoTime(), totalRate / parallelism);
            return Math.max(0, owedRecords);
        }

        /**
         * A future completed by the JDK's shared delay-scheduler thread. Unlike runAsync on a
         * delayedExecutor this starts no thread per call (on a 2-core host the common pool is disabled
         * and runAsync would spawn one thread per record), and it creates no thread owned by the job's
         * class loader that could outlive the job.
         */
        private static CompletableFuture<Void> after(long nanos) {
            return new CompletableFuture<Void>().completeOnTimeout(null, nanos, TimeUnit.NANOSECONDS);
        }

        private void refreshRateIfDue(long now) {
            if (rateFile == null || now - lastRateFileCheckNanos < RATE_FILE_CHECK_INTERVAL_NANOS) {
                return;
            }
            lastRateFileCheckNanos = now;
            String problem;
            try {
                double fromFile = Double.parseDouble(Files.readString(rateFile, StandardCharsets.UTF_8).trim());
                if (fromFile >= 0 && !Double.isInfinite(fromFile) && !Double.isNaN(fromFile)) {
                    if (fromFile != totalRate) {
                        // What was owed at the old rate stays owed.
                        accrue(now, totalRate / parallelism);
                        LOG.info("FLINKOPS-TESTJOB rate changed from {} to {} records/s (from {})",
                                totalRate, fromFile, rateFile);
                        totalRate = fromFile;
                        // Start the new rate from now rather than from a slot booked at the old rate.
                        nextFreeNanos = Math.min(nextFreeNanos, now);
                    }
                    lastRateFileProblem = null;
                    return;
                }
                problem = "rate file " + rateFile + " holds a negative or non-finite number";
            } catch (IOException | NumberFormatException e) {
                problem = "cannot read a number from rate file " + rateFile + ": " + e;
            }
            // Log each distinct problem once instead of every second.
            if (!problem.equals(lastRateFileProblem)) {
                LOG.warn("FLINKOPS-TESTJOB {}; keeping {} records/s", problem, totalRate);
                lastRateFileProblem = problem;
            }
        }
    }
}
