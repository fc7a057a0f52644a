using Recs.Dashboard;

var builder = WebApplication.CreateBuilder(RecsHostingExtensions.BuilderOptions(args));
builder.AddRecsServices(args);

var app = builder.Build();
app.UseRecsPipeline();
app.MapRecsEndpoints();

return await app.RunRecsAsync(args);
