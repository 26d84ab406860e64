#include "napi/device_queue.h"

#include <exception>

namespace wan::napi {

DeviceQueue::~DeviceQueue() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    shutdown_.store(true);
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void DeviceQueue::post(Task task) { push(std::move(task), false); }

void DeviceQueue::post_next(Task task) { push(std::move(task), true); }

void DeviceQueue::push(Task task, bool front) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (front) tasks_.push_front(std::move(task));
    else tasks_.push_back(std::move(task));
    if (!thread_.joinable()) thread_ = std::thread([this] { loop(); });
  }
  cv_.notify_one();
}

void DeviceQueue::loop() {
  for (;;) {
    Task task;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !tasks_.empty(); });
      if (tasks_.empty()) return;  // stopping, and everything queued has run
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    try {
      task();
    } catch (...) {
      // Tasks report their own failures to JS; nothing may end this thread.
    }
  }
}

}  // namespace wan::napi
