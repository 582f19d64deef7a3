"""Ready-made message templates (默认模板): a greeting for every festival and birthdays, a
thank-you after a purchase, a win-back and a new-arrival notice, in Chinese and English, for SMS,
e-mail and WeChat.

The texts are in the sandboxed template language of ``care.templating`` and use only its
variables ``salutation``, ``name``, ``tier``, ``points``, ``coupon_code``, ``store`` and ``shop``;
the optional ones (``tier``, ``points``, ``coupon_code``) sit inside ``{% if %}`` so an empty
value leaves no gap. SMS texts stay within 70 characters (one message) for a long salutation and
store name; the outbox appends the opt-out text (回复TD退订) to marketing SMS and the unsubscribe
link to marketing e-mail, so the texts carry neither. WeChat texts are the SMS texts without the
【shop】 signature (the official account already says who writes), signed by the store.

``install_defaults(session)`` inserts the ones missing (by name, channel and locale), so it is
safe to run on every start or after a shop deleted some.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from guanxi.care.calendar import FESTIVALS
from guanxi.services import audit
from guanxi.storage.db import Database
from guanxi.storage.models import MessageTemplate

FESTIVAL_KEYS: tuple[str, ...] = FESTIVALS
"""The festival keys of ``care.calendar.FESTIVALS``, in calendar order."""

OCCASION_KEYS: tuple[str, ...] = (*FESTIVAL_KEYS, "birthday")
"""The keys whose templates are greetings (``MessageTemplate.occasion`` is set)."""

OTHER_KEYS: tuple[str, ...] = ("followup_thanks", "winback", "new_arrival")
"""The keys of the templates that are no occasion's greeting (``occasion`` is None)."""

CHANNELS: tuple[str, ...] = ("sms", "email", "wechat")
LOCALES: tuple[str, ...] = ("zh_CN", "en")


@dataclass(frozen=True)
class DefaultTemplate:
    """One ready-made template. ``key`` is its occasion or purpose (``OCCASION_KEYS`` and
    ``OTHER_KEYS``); ``occasion`` is the key for greetings and None otherwise."""

    key: str
    name: str
    channel: str
    locale: str
    subject: str | None
    body: str
    is_marketing: bool = True

    @property
    def occasion(self) -> str | None:
        return self.key if self.key in OCCASION_KEYS else None


@dataclass(frozen=True)
class _Texts:
    """What one key says: the short text (SMS and WeChat) and the e-mail, in both languages."""

    zh_name: str
    en_name: str
    zh_short: str
    en_short: str
    zh_subject: str
    zh_email: str
    en_subject: str
    en_email: str


_ZH_SMS = "【{{ shop }}】{{ salutation }}，"
_EN_SMS = "{{ shop }}: "
_ZH_POINTS = "{% if points %}\n您现有积分 {{ points }}，到店可兑换茶礼。{% endif %}"
_EN_POINTS = (
    "{% if points %}\nYou have {{ points }} points to spend on tea gifts in store.{% endif %}"
)
_ZH_SIGN = "\n\n{{ shop }} · {{ store }}"
_EN_SIGN = "\n\n{{ shop }} · {{ store }}"

_TEXTS: dict[str, _Texts] = {
    "new_year": _Texts(
        "元旦问候", "New Year's Day greeting",
        "元旦快乐！新的一年，愿您日日有好茶、岁岁皆安康。",
        "Happy New Year, {{ salutation }}! May the year bring you good tea and good health. "
        "Drop by {{ store }} any time.",
        "{{ shop }}祝您元旦快乐",
        "新年伊始，感谢您过去一年对{{ shop }}的信任与陪伴。\n"
        "愿新的一年，您日日有好茶、岁岁皆安康。有空来{{ store }}坐坐，我们泡茶等您。",
        "Happy New Year from {{ shop }}",
        "Thank you for your company over the past year.\n"
        "May the new year bring you good tea and good health. Whenever you pass {{ store }}, "
        "come in for a cup: the kettle is always on.",
    ),
    "valentines": _Texts(
        "情人节问候", "Valentine's Day greeting",
        "情人节快乐！一壶好茶，两只茶杯，愿您与爱的人细品时光。",
        "Happy Valentine's Day, {{ salutation }}! One pot of good tea, two cups: "
        "enjoy the moment with the one you love.",
        "一壶好茶，两只茶杯",
        "情人节快乐！\n"
        "爱情像一泡好茶，越品越有滋味。愿您与爱的人慢下来，共享一段安静的茶时光。",
        "One pot, two cups",
        "Happy Valentine's Day!\n"
        "Love, like good tea, deepens with every infusion. We hope you and the one you love "
        "find a quiet hour to share a pot.",
    ),
    "chuxi": _Texts(
        "除夕问候", "New Year's Eve (Chuxi) greeting",
        "除夕快乐！感谢一年的陪伴，愿您阖家团圆，围炉品茗，岁岁平安。",
        "Happy Chinese New Year's Eve, {{ salutation }}! Thank you for this year. "
        "May your family reunion be warm and joyful.",
        "除夕团圆，{{ shop }}给您拜早年",
        "辞旧迎新之夜，感谢您这一年对{{ shop }}的照顾。\n"
        "愿您与家人围炉守岁、团团圆圆，来年平安顺遂。",
        "A warm reunion dinner from {{ shop }}",
        "On this New Year's Eve, thank you for being with us all year.\n"
        "May your reunion dinner be warm and your family well in the year ahead.",
    ),
    "spring_festival": _Texts(
        "春节问候", "Spring Festival greeting",
        "新春快乐！{{ shop }}全体同仁给您拜年，祝您万事顺意、身体安康。",
        "Happy Spring Festival, {{ salutation }}! Everyone at {{ shop }} wishes you health "
        "and good fortune in the new year.",
        "{{ shop }}给您拜年了",
        "新春快乐！{{ shop }}全体同仁给您拜年。\n"
        "祝您新的一年身体安康、万事顺意，阖家幸福。新年走亲访友，"
        "若需茶礼，{{ store }}随时为您准备。",
        "Happy Spring Festival from {{ shop }}",
        "Happy Spring Festival! Everyone at {{ shop }} wishes you health, happiness and good "
        "fortune in the new year.\n"
        "If you need a tea gift for your New Year visits, {{ store }} will gladly prepare one.",
    ),
    "lantern": _Texts(
        "元宵节问候", "Lantern Festival greeting",
        "元宵节快乐！月圆灯明，愿您与家人团团圆圆，一盏清茶配汤圆。",
        "Happy Lantern Festival, {{ salutation }}! Under the first full moon of the year, "
        "may your family be together.",
        "月圆灯明，元宵快乐",
        "元宵佳节，月圆灯明。\n"
        "吃过汤圆，不妨泡一壶清茶解解腻。愿您与家人团团圆圆，新的一年顺顺利利。",
        "Happy Lantern Festival",
        "The first full moon of the year is here.\n"
        "After the sweet rice balls, a light pot of tea is just right. May your family be "
        "together and the year go smoothly.",
    ),
    "womens_day": _Texts(
        "妇女节问候", "Women's Day greeting",
        "女神节快乐！愿您被温柔以待，今天不妨为自己泡一杯花茶。",
        "Happy Women's Day, {{ salutation }}! Take a moment for yourself today, "
        "with a cup of something fragrant.",
        "三八节快乐，给自己泡杯花茶",
        "祝您三八妇女节快乐！\n"
        "忙碌之余，也请留一点时间给自己：一杯茉莉花茶或桂花乌龙，香气会让心情慢慢舒展开。",
        "Happy International Women's Day",
        "Happy Women's Day!\n"
        "Between everything you do, keep a moment for yourself: a cup of jasmine or osmanthus "
        "oolong is a fragrant way to pause.",
    ),
    "qingming": _Texts(
        "清明节问候", "Qingming greeting",
        "清明时节，明前新茶已到店。春寒未尽，请注意添衣，我们在{{ store }}候您品鉴。",
        "{{ salutation }}, as Qingming comes, this spring's first pre-Qingming tea has "
        "arrived. Take care, and visit {{ store }} for a taste.",
        "清明时节，明前茶已到",
        "清明时节，天气渐暖，请注意身体。\n"
        "今年的明前龙井和碧螺春已陆续到店，嫩芽鲜爽，欢迎来{{ store }}品一杯春天的味道。",
        "Qingming: the first spring tea has arrived",
        "As Qingming comes, we hope you and your family are well.\n"
        "This year's pre-Qingming Longjing and Biluochun are arriving: tender and fresh. "
        "Come to {{ store }} for a taste of spring.",
    ),
    "labour_day": _Texts(
        "劳动节问候", "Labour Day greeting",
        "劳动节快乐！辛苦了，假期好好休息，出游别忘了带上一罐好茶。",
        "Happy Labour Day, {{ salutation }}! Enjoy a good rest over the holiday, and take "
        "some good tea along.",
        "五一快乐，辛苦了",
        "五一劳动节快乐！\n"
        "辛苦了一整年，假期请好好休息。出门旅行，带上一套便携茶具和一罐好茶，走到哪儿都能喝上一口好茶。",
        "Happy Labour Day",
        "Happy Labour Day!\n"
        "You have earned a rest. If you travel, a travel tea set and a tin of good tea make any "
        "place feel like home.",
    ),
    "mothers_day": _Texts(
        "母亲节问候", "Mother's Day greeting",
        "母亲节快乐！愿天下妈妈健康平安，一份茶礼，一声感谢。",
        "Happy Mother's Day, {{ salutation }}! Wishing every mother health and peace: "
        "a cup of tea, a word of thanks.",
        "母亲节，一份茶礼，一声感谢",
        "母亲节快乐！\n"
        "愿天下妈妈健康平安。陪妈妈喝一壶茶、说说话，或送上一份茶礼，都是最好的感谢。",
        "Happy Mother's Day",
        "Happy Mother's Day!\n"
        "A pot of tea shared with your mother, or a tea gift, is a simple way to say thank you. "
        "We wish every mother health and peace.",
    ),
    "dragon_boat": _Texts(
        "端午节问候", "Dragon Boat Festival greeting",
        "端午安康！粽香配茶香，愿您与家人平安顺遂。",
        "{{ salutation }}, wishing you a healthy and peaceful Dragon Boat Festival, "
        "with zongzi and good tea.",
        "端午安康",
        "端午安康！\n"
        "粽子配一杯清爽的绿茶或白茶，解腻又清心。愿您与家人平安顺遂，夏日清凉。",
        "A peaceful Dragon Boat Festival",
        "Wishing you a healthy and peaceful Dragon Boat Festival!\n"
        "Zongzi go well with a cup of green or white tea: light and refreshing. "
        "May you and your family have a cool, calm summer.",
    ),
    "fathers_day": _Texts(
        "父亲节问候", "Father's Day greeting",
        "父亲节快乐！陪爸爸喝一壶茶，聊聊天，就是最好的礼物。",
        "Happy Father's Day, {{ salutation }}! A pot of tea and a good talk with Dad "
        "is the best gift.",
        "陪爸爸喝一壶茶",
        "父亲节快乐！\n"
        "父爱不善言辞，像一泡老茶，耐泡而回甘。这个周末，陪爸爸喝一壶茶、聊聊天吧。",
        "Happy Father's Day",
        "Happy Father's Day!\n"
        "A father's love, like an aged tea, says little and lingers long. This weekend, "
        "share a pot with Dad.",
    ),
    "qixi": _Texts(
        "七夕问候", "Qixi greeting",
        "七夕快乐！愿有情人常相伴，一杯清茶共话星河。",
        "Happy Qixi, {{ salutation }}! May you and your loved one share tea "
        "under the summer stars.",
        "七夕，一杯清茶共话星河",
        "七夕快乐！\n"
        "鹊桥相会，星河璀璨。愿您与爱的人常相伴，泡一壶茶，慢慢聊。",
        "Happy Qixi",
        "Happy Qixi, the Chinese Valentine's Day!\n"
        "May you and your loved one find an evening to brew a pot and talk under the stars.",
    ),
    "mid_autumn": _Texts(
        "中秋节问候", "Mid-Autumn greeting",
        "中秋快乐！月圆人团圆，一盏好茶配月饼，愿您阖家幸福安康。",
        "Happy Mid-Autumn Festival, {{ salutation }}! May the full moon find your "
        "family together, with tea and mooncakes.",
        "月圆人团圆，{{ shop }}祝您中秋快乐",
        "中秋将至，{{ shop }}祝您与家人花好月圆、阖家安康。\n"
        "月圆之夜，泡一壶好茶，配一块月饼，是我们最喜欢的过节方式，也愿您共享这份安宁。",
        "A happy Mid-Autumn Festival from {{ shop }}",
        "The Mid-Autumn Festival is near: {{ shop }} wishes you and your family a full moon "
        "and a full table.\n"
        "A pot of good tea with a mooncake under the moon is our favourite way to celebrate; "
        "we hope it is yours too.",
    ),
    "double_ninth": _Texts(
        "重阳节问候", "Double Ninth greeting",
        "重阳安康！登高望远，敬老思亲，愿您与家中长辈福寿安康。",
        "{{ salutation }}, on the Double Ninth Festival we wish you and the elders "
        "of your family long life and good health.",
        "重阳敬老，福寿安康",
        "九九重阳，登高敬老。\n"
        "愿您与家中长辈身体康健、福寿绵长。陪长辈喝一壶温润的熟普或老白茶，暖胃也暖心。",
        "Double Ninth: health to your elders",
        "On the Double Ninth Festival, a day to honour our elders, we wish your family long "
        "life and good health.\n"
        "A mellow ripe pu'er or aged white tea, shared with the elders, warms body and heart.",
    ),
    "national_day": _Texts(
        "国庆节问候", "National Day greeting",
        "国庆快乐！假期出游请注意安全，回来到{{ store }}喝杯茶歇歇脚。",
        "Happy National Day, {{ salutation }}! Travel safely over the holiday, and "
        "rest with a cup at {{ store }}.",
        "国庆快乐，假期愉快",
        "国庆快乐！\n"
        "长假出游请注意安全，玩累了就来{{ store }}喝杯茶、歇歇脚。假期我们照常营业。",
        "Happy National Day",
        "Happy National Day!\n"
        "Travel safely over the Golden Week. When you are back and tired, come and rest with a "
        "cup at {{ store }}: we are open through the holiday.",
    ),
    "laba": _Texts(
        "腊八节问候", "Laba greeting",
        "腊八节快乐！喝碗腊八粥，品杯暖身红茶，年味渐浓，愿您安康。",
        "Happy Laba Festival, {{ salutation }}! A bowl of Laba porridge and a warming "
        "black tea: the New Year is coming.",
        "腊八到，年味浓",
        "腊八节快乐！\n"
        "过了腊八就是年。天寒地冻，一碗腊八粥、一杯暖身的红茶或熟普，愿您冬日安康。"
        "年货茶礼已在{{ store }}备好，欢迎选购。",
        "Laba: the New Year is coming",
        "Happy Laba Festival!\n"
        "After Laba, the New Year is close. A bowl of porridge and a cup of warming black tea "
        "or ripe pu'er will keep the cold away. New Year tea gifts are ready at {{ store }}.",
    ),
    "christmas": _Texts(
        "圣诞节问候", "Christmas greeting",
        "圣诞快乐！冬日寒冷，一杯热茶暖手暖心，祝您节日愉快。",
        "Merry Christmas, {{ salutation }}! A warm cup of tea for a cold winter's day, "
        "and our best wishes.",
        "圣诞快乐，一杯热茶暖冬日",
        "圣诞快乐！\n"
        "冬日寒冷，一杯热红茶捧在手里，暖手也暖心。祝您和家人节日愉快。",
        "Merry Christmas from {{ shop }}",
        "Merry Christmas!\n"
        "On a cold winter's day, a warm cup of black tea is the best company. "
        "Wishing you and your family a happy holiday.",
    ),
    "birthday": _Texts(
        "生日祝福", "Birthday greeting",
        "生日快乐！祝您福寿安康、万事顺心。"
        "{% if coupon_code %}生日礼券{{ coupon_code }}，到店可用。{% endif %}",
        "Happy birthday, {{ salutation }}! Best wishes for the year ahead."
        "{% if coupon_code %} Your birthday coupon: {{ coupon_code }}.{% endif %}",
        "{{ salutation }}，生日快乐",
        "今天是您的生日，{{ shop }}祝您生日快乐、福寿安康、万事顺心！\n"
        "{% if tier %}感谢您一直以来的支持，作为{{ tier }}会员，{% endif %}"
        "生日这天到{{ store }}，我们为您泡一壶好茶。"
        "{% if coupon_code %}\n您的生日礼券：{{ coupon_code }}，到店出示即可使用。{% endif %}",
        "Happy birthday, {{ salutation }}",
        "Happy birthday from all of us at {{ shop }}!\n"
        "{% if tier %}Thank you for being a {{ tier }} member. {% endif %}"
        "If you pass {{ store }} on your birthday, the first pot of tea is on us."
        "{% if coupon_code %}\nYour birthday coupon: {{ coupon_code }}, show it in store."
        "{% endif %}",
    ),
    "followup_thanks": _Texts(
        "购后回访感谢", "Thank-you after a purchase",
        "感谢您在{{ store }}选购！茶或茶具用得还顺手吗？冲泡上有问题随时问我们。",
        "Thank you for shopping at {{ store }}, {{ salutation }}! How is your tea or "
        "tea ware? Ask us anything about brewing.",
        "感谢您的选购，用得还好吗？",
        "感谢您前几天在{{ store }}的选购！\n"
        "想问问您：茶喝着还合口味吗？茶具用得顺手吗？冲泡、开壶、保存上有任何问题，"
        "回复这封邮件或到店找我们都可以。",
        "Thank you, and how is it going?",
        "Thank you for your recent visit to {{ store }}!\n"
        "We would love to know how the tea tastes and how the tea ware is working for you. "
        "Any question about brewing, seasoning a teapot or storing tea: just reply.",
    ),
    "winback": _Texts(
        "老客唤回", "Win-back",
        "好久不见，甚是想念！新茶已到店，"
        "{% if coupon_code %}凭券{{ coupon_code }}{% else %}凭此短信{% endif %}"
        "到{{ store }}可免费品鉴。",
        "{{ salutation }}, we have missed you! New season teas are in: show "
        "{% if coupon_code %}coupon {{ coupon_code }}{% else %}this text{% endif %} "
        "at {{ store }} for a free tasting.",
        "好久不见，{{ shop }}想您了",
        "好久没见到您了，{{ shop }}的茶友们都很想念您。\n"
        "这一季的新茶已经到店，欢迎回来坐坐，我们为您免费泡一壶品鉴。"
        "{% if coupon_code %}\n专属回馈券：{{ coupon_code }}，到店出示即可使用。{% endif %}",
        "We have missed you at {{ shop }}",
        "It has been a while, and we have missed you.\n"
        "This season's teas have arrived: come back for a free tasting, the pot is on us."
        "{% if coupon_code %}\nYour welcome-back coupon: {{ coupon_code }}.{% endif %}",
    ),
    "new_arrival": _Texts(
        "新品到店通知", "New arrival for interested customers",
        "您关注的新茶到店了！今年品质不错，欢迎到{{ store }}试饮，也可微信预留。",
        "{{ salutation }}, the tea you were interested in has just arrived. Come to "
        "{{ store }} for a taste, or ask us to keep some for you.",
        "您关注的新茶到店了",
        "您之前关注的茶，今年的新货到店了！\n"
        "我们试喝过，品质很不错，数量有限。欢迎到{{ store }}试饮，也可以回复邮件为您预留。",
        "The tea you asked about has arrived",
        "The tea you were interested in has just arrived, and this year's lot is very good.\n"
        "Quantities are limited: come to {{ store }} for a taste, or reply and we will keep "
        "some for you.",
    ),
}  # fmt: skip


def _build() -> tuple[DefaultTemplate, ...]:
    out: list[DefaultTemplate] = []
    for key in (*OCCASION_KEYS, *OTHER_KEYS):
        t = _TEXTS[key]
        zh_mail = "{{ salutation }}，您好：\n\n" + t.zh_email + _ZH_POINTS + _ZH_SIGN
        en_mail = "Dear {{ salutation }},\n\n" + t.en_email + _EN_POINTS + _EN_SIGN
        out += [
            DefaultTemplate(key, t.zh_name, "sms", "zh_CN", None, _ZH_SMS + t.zh_short),
            DefaultTemplate(key, t.en_name, "sms", "en", None, _EN_SMS + t.en_short),
            DefaultTemplate(key, t.zh_name, "email", "zh_CN", t.zh_subject, zh_mail),
            DefaultTemplate(key, t.en_name, "email", "en", t.en_subject, en_mail),
            DefaultTemplate(key, t.zh_name, "wechat", "zh_CN", None,
                            "{{ salutation }}，" + t.zh_short + "\n—— {{ store }}"),
            DefaultTemplate(key, t.en_name, "wechat", "en", None,
                            t.en_short + "\n— {{ store }}"),
        ]  # fmt: skip
    return tuple(out)


DEFAULT_TEMPLATES: tuple[DefaultTemplate, ...] = _build()
"""Every ready-made template: each key of ``OCCASION_KEYS`` and ``OTHER_KEYS`` for each
channel and locale."""


def default_template(key: str, channel: str, locale: str) -> DefaultTemplate:
    """The ready-made template of a key, channel and locale (KeyError when there is none)."""
    for t in DEFAULT_TEMPLATES:
        if (t.key, t.channel, t.locale) == (key, channel, locale):
            return t
    raise KeyError(f"no default template for {key!r} on {channel} in {locale}")


def _missing(session: Session) -> list[DefaultTemplate]:
    have = {
        (name, channel, locale)
        for name, channel, locale in session.execute(
            select(MessageTemplate.name, MessageTemplate.channel, MessageTemplate.locale)
        )
    }
    return [t for t in DEFAULT_TEMPLATES if (t.name, t.channel, t.locale) not in have]


def missing_defaults(session: Session) -> int:
    """How many ready-made templates the shop does not have (by name, channel and locale)."""
    return len(_missing(session))


def install_defaults(session: Session, *, now: datetime | None = None) -> int:
    """Insert the ready-made templates the shop does not have yet (matched by name, channel and
    locale, so edited texts are kept and deleted ones come back); returns how many were
    inserted. ``now`` stamps the new rows (the demo passes its own clock)."""
    at = now or datetime.now(UTC)
    rows = [
        {
            "name": t.name,
            "channel": t.channel,
            "locale": t.locale,
            "occasion": t.occasion,
            "subject": t.subject,
            "body": t.body,
            "is_marketing": t.is_marketing,
            "is_active": True,
            "created_at": at,
            "updated_at": at,
        }
        for t in _missing(session)
    ]
    if rows:
        session.execute(insert(MessageTemplate), rows)
    return len(rows)


def add_default_templates(db: Database, *, actor_id: int | None) -> int:
    """The owner's or a manager's "add the ready-made templates": install the missing ones in
    one transaction, audited with the count; returns how many were added."""
    with db.write() as session:
        added = install_defaults(session)
        if added:
            audit.record(session, audit.Action.TEMPLATES_INSTALLED, actor_id=actor_id,
                         target_type="message_template", detail={"added": added})  # fmt: skip
    return added


__all__ = [
    "CHANNELS", "DEFAULT_TEMPLATES", "FESTIVAL_KEYS", "LOCALES", "OCCASION_KEYS", "OTHER_KEYS",
    "DefaultTemplate", "add_default_templates", "default_template", "install_defaults",
    "missing_defaults",
]  # fmt: skip
