# generate_dataset.py — run once to produce data/posts.csv
# Requires: pandas, numpy (both pinned in your requirements.txt)
import numpy as np
import pandas as pd
RNG = np.random.default_rng(seed=42)
N = 50_000
SUBREDDITS = ["AskReddit","worldnews","gaming","science","todayilearned",
"movies","funny","aww","technology","sports"]
age_hours = RNG.exponential(scale=24, size=N).clip(0.1, 720)
base_score = (RNG.pareto(a=1.5, size=N) * 100).astype(int).clip(1, 50_000)
upvote_ratio = RNG.beta(a=9, b=2, size=N).round(4)
num_comments = (RNG.negative_binomial(n=5, p=0.05, size=N)).clip(0, 5_000)
author_karma = RNG.integers(1, 500_000, size=N)
subreddit = RNG.choice(SUBREDDITS, size=N)
# Synthetic titles sampled from a small vocabulary
WORDS = ["breaking","new","why","how","best","worst","top","daily",
"amazing","free","official","weekly","update","thread","discussion"]
titles = [" ".join(RNG.choice(WORDS, size=RNG.integers(3, 9))) for _ in range(N)]
# Engagement label: logistic function of several signals + noise
log_odds = (
0.03 * base_score / 1000
- 0.05 * age_hours
+ 1.2 * upvote_ratio
+ 0.002 * num_comments
+ RNG.normal(scale=0.8, size=N)
)
prob_engaged = 1 / (1 + np.exp(-log_odds))
engaged = (RNG.uniform(size=N) < prob_engaged).astype(int)
df = pd.DataFrame({
"post_id": np.arange(N),
"title": titles,
"subreddit": subreddit,
"score": base_score,
"num_comments": num_comments,
"upvote_ratio": upvote_ratio,
"post_age_hours":age_hours,
"author_karma": author_karma,
"engaged": engaged,
})
df.to_csv("data/posts.csv", index=False)
print(f"Saved {len(df):,} rows to data/posts.csv "
f"(engagement rate: {engaged.mean():.3f})")
