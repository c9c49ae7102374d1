console.error("rxetcd: the server is not built yet");
process.exit(1);
