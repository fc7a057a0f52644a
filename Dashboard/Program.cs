using Recs.Dashboard;

var builder = WebApplication.CreateBuilder(args);
builder.AddRecsServices();

var app = builder.Build();
app.UseRecsPipeline();
app.MapRecsEndpoints();

return await app.RunRecsAsync(args);
