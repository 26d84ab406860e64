#pragma once
// One job thread per device: every piece of native work that touches an addon instance's backend
// (loading weights, text encoding, the denoising loop, VAE encode and decode, LoRA merges, later
// frame interpolation) runs on this one thread, in order. It owns the backend (and, on CUDA, the
// device's stream), so no op ever runs on two threads at once, and the backend knows which job's
// cancel to poll (Backend::set_cancel). Nothing here blocks the JS thread or the libuv pool.
//
// A job is one or more tasks. Its first task queues behind everything posted before; a job that
// runs on (one VAE chunk after another) queues its next task before new jobs, and a job that waits
// for JS (a slow frame consumer) posts nothing until JS answers, so the thread serves other jobs
// meanwhile instead of blocking on a consumer that may itself be waiting for the device.
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace wan::napi {

class DeviceQueue {
 public:
  using Task = std::function<void()>;

  DeviceQueue() = default;
  // Raises the shutdown flag (every job's cancel watches it), runs the queued tasks out (they fail
  // fast with E_CANCELLED and free what they hold) and joins the thread.
  ~DeviceQueue();
  DeviceQueue(const DeviceQueue&) = delete;
  DeviceQueue& operator=(const DeviceQueue&) = delete;

  // A new job: after everything queued.
  void post(Task task);
  // The next task of a job that is already running: before jobs not yet started.
  void post_next(Task task);

  const std::atomic<bool>& shutdown_flag() const { return shutdown_; }

 private:
  void push(Task task, bool front);
  void loop();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Task> tasks_;
  bool stop_ = false;
  std::atomic<bool> shutdown_{false};
  std::thread thread_;  // started by the first post
};

}  // namespace wan::napi
