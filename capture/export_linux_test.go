package capture

// LiveWatchEvery lets capture_test make -i any look for new interfaces more often.
var LiveWatchEvery = &liveWatchEvery
