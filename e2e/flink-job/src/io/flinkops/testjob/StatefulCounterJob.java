package io.flinkops.testjob;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.connector.source.SourceReader;
import org.apache.flink.api.connector.source.SourceReaderContext;
import org.apache.flink.api.connector.source.lib.NumberSequenceSource;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.connector.datagen.source.GeneratorFunction;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Gauge;
import org.apache.flink.runtime.state.FunctionInitializationContext;
import org.apache.flink.runtime.state.FunctionSnapshotContext;
import org.apache.flink.streaming.api.checkpoint.CheckpointedFunction;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;
import org.apache.flink.util.Collector;
import org.apache.flink.util.ParameterTool;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.locks.LockSupport;

/**
 * Stateful streaming job for flinkops' end-to-end tests.
 *
 * <pre>
 *   source (DataGeneratorSource, rate limited) -> keyBy(index % keys) -> counter (ValueState&lt;Long&gt;) -> sink (discard)
 * </pre>
 *
 * The operator uids are fixed ({@code source}, {@code counter}, {@code sink}) so savepoints map onto a
 * resubmitted job and the vertex ids are stable across runs.
 *
 * <p>Arguments (all optional):
 * <ul>
 *   <li>{@code --rate} total records per second over all source subtasks (default 1000; 0 pauses the source)</li>
 *   <li>{@code --rate-file PATH} file holding a number that replaces {@code --rate}; re-read about once a second
 *       so a test can change the load without redeploying (a missing or unparsable file keeps the last rate)</li>
 *   <li>{@code --keys} number of distinct keys (default 1000)</li>
 *   <li>{@code --burn-us} busy-spin microseconds per record in the counter, to create CPU load (default 0)</li>
 *   <li>{@code --sleep-us} microseconds each record waits (parked, not spinning) in the counter: a per-record cost
 *       that makes the counter the bottleneck without using CPU; counts as busy time (default 0)</li>
 *   <li>{@code --backlog} the source acts like a queue fed at the rate: records back-pressure keeps it from
 *       emitting stay owed, are reported as the source's {@code pendingRecords} and emitted as soon as the job
 *       takes them (default: forgotten, so the job never catches up)</li>
 *   <li>{@code --payload-bytes} padding per record; large records fill network buffers quickly, so
 *       back-pressure shows within seconds (default 0)</li>
 *   <li>{@code --splits} number of source splits (default 128); keep it at least the largest source
 *       parallelism a test scales to, otherwise surplus source subtasks get no split and finish</li>
 *   <li>{@code --name} job name (default flinkops-stateful-counter)</li>
 * </ul>
 *
 * <p>Custom metrics on the counter operator (per subtask; REST names {@code counter.restoredKeys},
 * {@code counter.maxCount}):
 * <ul>
 *   <li>{@code restoredKeys} counter: keys whose state came from a restored snapshot. 0 on a fresh start. It grows
 *       as restored keys are first seen after startup, so it reaches the full count once every key had a record.</li>
 *   <li>{@code maxCount} gauge: the highest per-key count this subtask has seen since it started.</li>
 * </ul>
 * A restored subtask logs a line starting with {@code FLINKOPS-TESTJOB restored state}.
 */
public final class StatefulCounterJob {

    /** Uids of the three operators; tests and the docs refer to these. */
    public static final String SOURCE_UID = "source";
    public static final String COUNTER_UID = "counter";
    public static final String SINK_UID = "sink";

    private StatefulCounterJob() {}

    public static void main(String[] args) throws Exception {
        ParameterTool params = ParameterTool.fromArgs(args);
        double rate = params.getDouble("rate", 1000);
        String rateFile = params.get("rate-file", null);
        long keys = params.getLong("keys", 1000);
        long burnMicros = params.getLong("burn-us", 0);
        long sleepMicros = params.getLong("sleep-us", 0);
        boolean backlog = params.has("backlog");
        int payloadBytes = params.getInt("payload-bytes", 0);
        int splits = params.getInt("splits", 128);
        String name = params.get("name", "flinkops-stateful-counter");
        if (keys <= 0 || splits <= 0 || rate < 0 || burnMicros < 0 || sleepMicros < 0 || payloadBytes < 0) {
            throw new IllegalArgumentException(
                    "--keys and --splits must be > 0; --rate, --burn-us and --payload-bytes must be >= 0");
        }

        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();

        // Records are "<index>" or "<index>|<padding>"; the key is index % keys.
        String padding = payloadBytes > 0 ? "|" + "x".repeat(payloadBytes) : "";
        GeneratorFunction<Long, String> generator = index -> index + padding;
        FileRateLimiterStrategy limiter = new FileRateLimiterStrategy(rate, rateFile, backlog);
        DataGeneratorSource<String> source = new BacklogReportingSource(
                generator, new ManySplitsSequence(0, Long.MAX_VALUE - 1, splits), limiter);

        env.fromSource(source, WatermarkStrategy.noWatermarks(), SOURCE_UID)
                .uid(SOURCE_UID).name(SOURCE_UID)
                .keyBy(record -> indexOf(record) % keys, Types.LONG)
                .process(new CountPerKey(burnMicros, sleepMicros))
                .uid(COUNTER_UID).name(COUNTER_UID)
                .sinkTo(new DiscardingSink<>())
                .uid(SINK_UID).name(SINK_UID);

        env.execute(name);
    }

    static long indexOf(String record) {
        int bar = record.indexOf('|');
        return Long.parseLong(bar < 0 ? record : record.substring(0, bar));
    }

    /** The generator source, reporting its limiter's backlog as the standard {@code pendingRecords} gauge. */
    public static final class BacklogReportingSource extends DataGeneratorSource<String> {
        private static final long serialVersionUID = 1L;
        private final FileRateLimiterStrategy limiter;

        public BacklogReportingSource(
                GeneratorFunction<Long, String> generator, NumberSequenceSource sequence,
                FileRateLimiterStrategy limiter) {
            super(generator, sequence, limiter, Types.STRING);
            this.limiter = limiter;
        }

        @Override
        public SourceReader<String, NumberSequenceSource.NumberSequenceSplit> createReader(
                SourceReaderContext readerContext) throws Exception {
            // createRateLimiter runs inside super.createReader, on this subtask's own copy of the strategy.
            SourceReader<String, NumberSequenceSource.NumberSequenceSplit> reader = super.createReader(readerContext);
            readerContext.metricGroup().setPendingRecordsGauge(() -> (long) limiter.pendingRecords());
            return reader;
        }
    }

    /**
     * NumberSequenceSource creates exactly {@code parallelism} splits on the first start, so after a
     * scale-up the extra readers get no split and the (bounded) source subtasks go FINISHED. Creating
     * at least {@code minSplits} splits keeps every subtask busy across rescales up to that parallelism.
     */
    public static final class ManySplitsSequence extends NumberSequenceSource {
        private static final long serialVersionUID = 1L;
        private final int minSplits;

        public ManySplitsSequence(long from, long to, int minSplits) {
            super(from, to);
            this.minSplits = minSplits;
        }

        @Override
        protected List<NumberSequenceSplit> splitNumberRange(long from, long to, int numSplits) {
            return super.splitNumberRange(from, to, Math.max(numSplits, minSplits));
        }
    }

    /** Counts records per key in keyed ValueState and reports whether that state was restored. */
    public static final class CountPerKey extends KeyedProcessFunction<Long, String, Long>
            implements CheckpointedFunction {
        private static final long serialVersionUID = 1L;
        private static final Logger LOG = LoggerFactory.getLogger(CountPerKey.class);

        private final long burnMicros;
        private final long sleepMicros;
        private transient ValueState<Long> count;
        /** Keys seen since this subtask started; the first sighting of a key with state means "restored". */
        private transient Set<Long> seenKeys;
        private transient Counter restoredKeys;
        private transient long maxCount;
        private transient boolean restored;
        private transient boolean loggedFirstRestoredKey;

        public CountPerKey(long burnMicros, long sleepMicros) {
            this.burnMicros = burnMicros;
            this.sleepMicros = sleepMicros;
        }

        @Override
        public void initializeState(FunctionInitializationContext context) {
            // Called before open(); isRestored() is true after a savepoint/checkpoint restore or failover.
            restored = context.isRestored();
            if (restored) {
                LOG.info("FLINKOPS-TESTJOB restored state: checkpointId={} subtask={}",
                        context.getRestoredCheckpointId(),
                        getRuntimeContext().getTaskInfo().getIndexOfThisSubtask());
            }
        }

        @Override
        public void snapshotState(FunctionSnapshotContext context) {
            // The keyed ValueState is snapshotted by Flink; nothing extra to write.
        }

        @Override
        public void open(OpenContext openContext) {
            count = getRuntimeContext().getState(new ValueStateDescriptor<>("count", Types.LONG));
            seenKeys = new HashSet<>();
            restoredKeys = getRuntimeContext().getMetricGroup().counter("restoredKeys");
            getRuntimeContext().getMetricGroup().gauge("maxCount", (Gauge<Long>) () -> maxCount);
        }

        @Override
        public void processElement(String record, Context ctx, Collector<Long> out) throws Exception {
            Long key = ctx.getCurrentKey();
            Long previous = count.value();
            if (seenKeys.add(key) && previous != null) {
                restoredKeys.inc();
                if (!loggedFirstRestoredKey) {
                    loggedFirstRestoredKey = true;
                    LOG.info("FLINKOPS-TESTJOB restored state: first restored key={} count={} subtask={}",
                            key, previous, getRuntimeContext().getTaskInfo().getIndexOfThisSubtask());
                }
            }
            long next = (previous == null ? 0L : previous) + 1;
            count.update(next);
            maxCount = Math.max(maxCount, next);
            if (burnMicros > 0) {
                long until = System.nanoTime() + burnMicros * 1_000L;
                while (System.nanoTime() < until) {
                    // Busy-spin: the point is to use CPU so busyTimeMsPerSecond rises.
                    Thread.onSpinWait();
                }
            }
            if (sleepMicros > 0) {
                // Parked, not spinning: the task thread is busy (not idle, not back-pressured) but uses no CPU.
                LockSupport.parkNanos(sleepMicros * 1_000L);
            }
            out.collect(next);
        }
    }
}
