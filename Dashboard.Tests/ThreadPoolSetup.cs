using System.Runtime.CompilerServices;

namespace Recs.Tests;

/// <summary>
/// The test host runs bUnit tests (whose WaitFor* block a pool thread while they wait for the renderer) beside end-to-end
/// tests that keep apps, browsers and clusters busy; on two cores the pool grows slowly enough that a renderer's
/// dispatcher could go unscheduled for a bUnit wait's whole timeout (seen once in a fresh-clone run). Start it wider.
/// </summary>
internal static class ThreadPoolSetup
{
    [ModuleInitializer]
    internal static void Widen()
    {
        ThreadPool.GetMinThreads(out var workers, out var io);
        ThreadPool.SetMinThreads(Math.Max(workers, 64), Math.Max(io, 64));
    }
}
