using System.Diagnostics;

namespace Recs.Tests.E2E;

/// <summary>Runs the built Dashboard.dll with a verb, as a user does from the shell.</summary>
public static class DashboardCli
{
    public static Task<(int Exit, string Stdout, string Stderr)> RunAsync(params string[] args) => RunWithInputAsync(null, args);

    /// <summary>Runs a verb with <paramref name="input"/> on its standard input (a password, say).</summary>
    public static async Task<(int Exit, string Stdout, string Stderr)> RunWithInputAsync(string? input, params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = input is not null, UseShellExecute = false };
        info.ArgumentList.Add(RepoPaths.DashboardDll);
        foreach (var a in args)
            info.ArgumentList.Add(a);
        using var process = Process.Start(info)!;
        if (input is not null)
        {
            await process.StandardInput.WriteLineAsync(input);
            process.StandardInput.Close();
        }
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await stdout, await stderr);
    }

    /// <summary>Runs a verb and fails with its output when it does not exit 0.</summary>
    public static async Task<string> RunOkAsync(params string[] args)
    {
        var (exit, stdout, stderr) = await RunAsync(args);
        return exit == 0 ? stdout : throw new InvalidOperationException($"`{string.Join(' ', args)}` exited {exit}:\n{stderr}\n{stdout}");
    }
}
