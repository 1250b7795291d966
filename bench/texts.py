"""Chat text of realistic sizes: what visitors and operators actually type, not padding.

Sizes follow live-chat logs: most lines are a few words, some a paragraph, a
few a pasted order description. English and Russian, because the product
serves both and Cyrillic costs two bytes a character on the wire.
"""

from __future__ import annotations

import random

SHORT = [
    "Hi!",
    "Hello, is anyone there?",
    "ok thanks",
    "Yes, that's right.",
    "One moment please",
    "Спасибо!",
    "Добрый день",
    "Да, всё верно",
    "Got it, thank you 🙂",
    "Let me check that for you.",
    "Where is my order?",
    "Можно побыстрее?",
]
MEDIUM = [
    "Hi, I ordered a pair of running shoes last Tuesday and the tracking page still says 'label created'.",
    "Could you tell me whether the blue jacket in size M is back in stock, or when it is expected?",
    "I have checked with the warehouse: your parcel left this morning and should arrive on Thursday.",
    "Здравствуйте! Заказ №48213 до сих пор не пришёл, а в трекинге третий день ничего не меняется.",
    "Я проверила: посылка передана в доставку сегодня утром, курьер позвонит вам за час до приезда.",
    "Is it possible to change the delivery address? I will be at my office instead of home that day.",
    "Sure, I have updated the address on your order. You will get a confirmation email in a minute.",
    "Подскажите, пожалуйста, можно ли вернуть товар, если упаковка уже вскрыта, но вещь не носили?",
]
LONG = [
    "Hello, I'd like to return two items from order 77120: the grey hoodie (size L) was too big and "
    "the phone case does not fit my model even though the listing said it would. I still have the "
    "original packaging for both. Do I need to print a label myself, or will the courier bring one? "
    "Also, will the refund go back to my card or as store credit?",
    "Добрый вечер! Мы оформили корпоративный заказ на 40 комплектов, но в счёте указаны неверные "
    "реквизиты компании: ИНН и юридический адрес от старой организации. Можно ли переоформить счёт "
    "без отмены заказа, чтобы не потерять забронированные сроки поставки? Бухгалтерия ждёт документы "
    "до пятницы.",
]
# Shares of short, medium and long lines in a chat transcript.
WEIGHTS = (0.6, 0.33, 0.07)


class TextSampler:
    """A deterministic stream of chat lines with the size mix above."""

    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)

    def next(self) -> str:
        """The next line."""
        pool = self.random.choices((SHORT, MEDIUM, LONG), weights=WEIGHTS)[0]
        return self.random.choice(pool)


def mean_size_bytes(samples: int = 10000) -> float:
    """Average UTF-8 size of a line, for the report."""
    sampler = TextSampler(0)
    return sum(len(sampler.next().encode()) for _ in range(samples)) / samples
