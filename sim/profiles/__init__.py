"""RFM profiles: recency, frequency and monetary scores, activity states, K-Means segments."""
