using System.Diagnostics;
using System.Text;

namespace Recs.Services.Data;

/// <summary>Exit code and the combined stdout/stderr of a finished process.</summary>
public sealed record ProcessResult(int ExitCode, string Output);

/// <summary>Runs the PostgreSQL tools (and a few system commands) with a time limit.</summary>
internal static class ProcessRunner
{
    public static async Task<ProcessResult> RunAsync(
        string file, IReadOnlyList<string> args, string? workingDirectory, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var info = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
            info.ArgumentList.Add(arg);
        if (workingDirectory is not null)
            info.WorkingDirectory = workingDirectory;
        info.Environment["LC_ALL"] = "C";

        using var process = new Process { StartInfo = info };
        var output = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return new ProcessResult(127, $"could not run {file}: {e.Message}");
        }
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            cancellationToken.ThrowIfCancellationRequested();
            return new ProcessResult(124, $"{Path.GetFileName(file)} did not finish within {timeout.TotalSeconds:F0} s");
        }
        lock (output)
            return new ProcessResult(process.ExitCode, output.ToString());
    }

    public static async Task RunCheckedAsync(string file, IReadOnlyList<string> args, string? workingDirectory, CancellationToken cancellationToken)
    {
        var result = await RunAsync(file, args, workingDirectory, TimeSpan.FromSeconds(60), cancellationToken);
        if (result.ExitCode != 0)
            throw new DatabaseStartupException($"{file} {string.Join(' ', args)} failed: {result.Output.Trim()}");
    }

    public static async Task<bool> UserExistsAsync(string user, CancellationToken cancellationToken) =>
        (await RunAsync("id", ["-u", user], null, TimeSpan.FromSeconds(10), cancellationToken)).ExitCode == 0;

    public static string? Which(string name)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
                     .Concat(["/usr/sbin", "/sbin", "/usr/bin", "/bin"]))
        {
            var path = Path.Combine(dir, name);
            if (File.Exists(path))
                return path;
        }
        return null;
    }
}
