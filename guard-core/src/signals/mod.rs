//! Conversation signals: sentiment and reasoning quality (in progress).
