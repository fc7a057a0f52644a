// Drives a running Recs through the official AWS SDK for JavaScript clients, as an application built on
// AWS Personalize would: get recommendations for a new user, put purchase events, get them again, rank a list,
// click an item of the first answer naming its recommendationId, and ask for an unknown item. Prints one JSON object for the test to check.
// usage: node check.mjs ENDPOINT USER_ID ITEM_ID[,ITEM_ID...] RANK_ITEM_ID[,...]
import { PersonalizeRuntimeClient, GetRecommendationsCommand, GetPersonalizedRankingCommand } from "@aws-sdk/client-personalize-runtime";
import { PersonalizeEventsClient, PutEventsCommand } from "@aws-sdk/client-personalize-events";

const [endpoint, userId, bought, toRank] = process.argv.slice(2);
const config = {
  endpoint,
  region: "eu-west-1",
  credentials: { accessKeyId: process.env.RECS_AWS_ACCESS_KEY_ID, secretAccessKey: process.env.RECS_AWS_SECRET_ACCESS_KEY },
  maxAttempts: 1,
};
const campaignArn = "arn:aws:personalize:eu-west-1:000000000000:campaign/recs";
const runtime = new PersonalizeRuntimeClient(config);
const events = new PersonalizeEventsClient(config);

const before = await runtime.send(new GetRecommendationsCommand({ campaignArn, userId, numResults: 10 }));
const now = Date.now();
await events.send(new PutEventsCommand({
  trackingId: "recs-tracker",
  userId,
  sessionId: "session-1",
  eventList: bought.split(",").map((itemId, k) => ({ eventType: "purchase", itemId, sentAt: new Date(now - 60_000 + k * 1000) })),
}));
// A click on the first item of the first answer, naming that answer and what the shop showed of it: Recs attributes it.
const clicked = before.itemList[0].itemId;
await events.send(new PutEventsCommand({
  trackingId: "recs-tracker",
  userId,
  sessionId: "session-2",
  eventList: [{
    eventType: "click", itemId: clicked, sentAt: new Date(now), recommendationId: before.recommendationId,
    impression: before.itemList.slice(0, 3).map(i => i.itemId),
  }],
}));
const after = await runtime.send(new GetRecommendationsCommand({ campaignArn, userId, numResults: 10 }));
const ranking = await runtime.send(new GetPersonalizedRankingCommand({ campaignArn, userId, inputList: toRank.split(",") }));
let unknownItem = null;
try {
  await runtime.send(new GetRecommendationsCommand({ campaignArn, itemId: "no-such-item" }));
} catch (e) {
  unknownItem = { name: e.name, status: e.$metadata?.httpStatusCode, message: e.message };
}
let badInput = null;
try {
  await events.send(new PutEventsCommand({ trackingId: "recs-tracker", userId, sessionId: "session-1", eventList: [] }));
} catch (e) {
  badInput = { name: e.name, status: e.$metadata?.httpStatusCode, message: e.message };
}
// Requests signed with a wrong secret, or by an access key Recs does not know, are refused before anything runs.
async function refusal(credentials) {
  try {
    await new PersonalizeRuntimeClient({ ...config, credentials }).send(new GetRecommendationsCommand({ campaignArn, userId, numResults: 1 }));
    return null;
  } catch (e) {
    return { name: e.name, status: e.$metadata?.httpStatusCode, message: e.message };
  }
}
const wrongSecret = await refusal({ accessKeyId: config.credentials.accessKeyId, secretAccessKey: "not-the-secret" });
const unknownKey = await refusal({ accessKeyId: "AKIDUNKNOWN", secretAccessKey: "whatever" });
console.log(JSON.stringify({
  wrongSecret,
  unknownKey,
  before: before.itemList,
  after: after.itemList,
  recommendationId: after.recommendationId,
  beforeRecommendationId: before.recommendationId,
  rankingRecommendationId: ranking.recommendationId,
  clicked,
  ranking: ranking.personalizedRanking,
  unknownItem,
  badInput,
}));
