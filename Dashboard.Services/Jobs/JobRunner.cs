using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Recs.Services.Audit;

namespace Recs.Services.Jobs;

/// <summary>The kinds of job, one name each (the jobs table, the pages and the audit log use them).</summary>
public static class JobKinds
{
    public const string DemoData = "demo-data";
    public const string Import = "import";
    public const string Training = "training";
    public const string Batch = "batch-inference";
    public const string Simulation = "simulation";
}

/// <summary>Thrown when a job of the same kind is already running somewhere (this or another instance).</summary>
public sealed class JobAlreadyRunningException(string kind) : Exception($"A {kind} job is already running; wait for it to finish or cancel it.")
{
    public string Kind { get; } = kind;
}

/// <summary>What a job says of itself when it starts and ends.</summary>
public sealed record JobDefinition(string Kind, object Parameters, string RequestedBy)
{
    /// <summary>The audit entry's action and target; null: not audited (demo data).</summary>
    public (string Action, string Target)? Audit { get; init; }

    /// <summary>The job's message when cancelled (say what was left as it was).</summary>
    public string Cancelled { get; init; } = "Cancelled";

    /// <summary>The job's message when it failed (say what was left as it was).</summary>
    public string Failed { get; init; } = "Failed";
}

/// <summary>What the work of a job can do: report progress, append to its log, and see cancellation.</summary>
public sealed class JobContext(JobService jobs, JobRecord job, CancellationToken cancellation)
{
    public JobRecord Job { get; } = job;

    public CancellationToken Cancellation { get; } = cancellation;

    /// <summary>Progress 0..1 with a message; fire-and-forget safe (written at most twice a second).</summary>
    public Task ReportAsync(double fraction, string message) => jobs.ReportAsync(Job, fraction, message, CancellationToken.None);

    public void Report(double fraction, string message) => _ = ReportAsync(fraction, message);

    public Task LogAsync(string line) => jobs.LogAsync(Job, line, Cancellation);
}

/// <summary>How a job ended, for its record: the message, the result kept as JSON, and the audit outcome.</summary>
public sealed record JobOutcome(string Message, object? Result = null, string? AuditOutcome = null);

/// <summary>
/// The lifecycle of every background job, written once: start (one of a kind at a time, across instances), progress,
/// finish, fail, cancel, and the audit entry. Work can run inline (the command line waits for it) or in the background
/// (a page starts it and follows its progress), and a background job can be cancelled from here.
/// </summary>
public sealed class JobRunner(JobService jobs, AuditLog audit, ILogger<JobRunner> logger)
{
    private readonly ConcurrentDictionary<long, CancellationTokenSource> _running = new();

    /// <summary>Runs a job in the caller; throws <see cref="JobAlreadyRunningException"/> when one of its kind runs.</summary>
    public async Task<T> RunAsync<T>(JobDefinition definition, Func<JobContext, Task<T>> work, Func<T, JobOutcome> outcome, CancellationToken cancellationToken = default)
    {
        var job = await jobs.TryStartAsync(definition.Kind, definition.Parameters, definition.RequestedBy, cancellationToken)
            ?? throw new JobAlreadyRunningException(definition.Kind);
        return await ExecuteAsync(definition, job, work, outcome, cancellationToken);
    }

    /// <summary>Starts a job in the background and returns its record; <see cref="Cancel"/> stops it.</summary>
    public async Task<JobRecord> StartAsync<T>(JobDefinition definition, Func<JobContext, Task<T>> work, Func<T, JobOutcome> outcome, CancellationToken cancellationToken = default)
    {
        var job = await jobs.TryStartAsync(definition.Kind, definition.Parameters, definition.RequestedBy, cancellationToken)
            ?? throw new JobAlreadyRunningException(definition.Kind);
        var cts = new CancellationTokenSource();
        _running[job.Id] = cts;
        _ = Task.Run(async () =>
        {
            try
            {
                await ExecuteAsync(definition, job, work, outcome, cts.Token);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // A failure's stack trace goes to the log (the job record keeps the message); a cancellation needs none.
                if (e is OperationCanceledException)
                    logger.LogWarning("{Kind} job {Id} ended: {Message}", definition.Kind, job.Id, e.Message);
                else
                    logger.LogWarning(e, "{Kind} job {Id} failed: {Message}", definition.Kind, job.Id, e.Message);
            }
            finally
            {
                _running.TryRemove(job.Id, out _);
                cts.Dispose();
            }
        }, CancellationToken.None);
        return job;
    }

    /// <summary>Requests cancellation of a job running in this process; false when it is not running here.</summary>
    public bool Cancel(long jobId)
    {
        if (!_running.TryGetValue(jobId, out var cts))
            return false;
        cts.Cancel();
        return true;
    }

    private async Task<T> ExecuteAsync<T>(JobDefinition definition, JobRecord job, Func<JobContext, Task<T>> work, Func<T, JobOutcome> outcome, CancellationToken cancellationToken)
    {
        var context = new JobContext(jobs, job, cancellationToken);
        async Task<T> Run()
        {
            try
            {
                var result = await work(context);
                var end = outcome(result);
                await jobs.FinishAsync(job, JobStatus.Succeeded, end.Message, end.Result);
                return result;
            }
            catch (OperationCanceledException)
            {
                await jobs.FinishAsync(job, JobStatus.Cancelled, definition.Cancelled);
                throw;
            }
            catch (Exception e)
            {
                await jobs.FinishAsync(job, JobStatus.Failed, definition.Failed, error: e.Message);
                throw;
            }
        }
        if (definition.Audit is not { } entry)
            return await Run();
        return await audit.AuditAsync(definition.RequestedBy, entry.Action, entry.Target, definition.Parameters, Run, r => outcome(r).AuditOutcome ?? outcome(r).Message);
    }
}
