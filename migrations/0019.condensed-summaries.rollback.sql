DROP TABLE condensed_summaries;
