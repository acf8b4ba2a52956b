"""Camera ingestion: RTSP readers that decode, sample and hand over the newest frame."""
